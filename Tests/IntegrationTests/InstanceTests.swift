import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 14: several daemons on one host. Each instance owns its chain, net, liveness list and control
/// socket; stopping one leaves the other clamping; a second daemon of the same instance is refused and
/// the first one is unharmed; probing a control socket never kills its owner.
@Suite(
    "Several instances on one host",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct InstanceTests {
    /// Whether the rules of the instance of `queue` are exactly as `rules apply` would make them.
    static func verified(_ lab: Lab, mss: Int, queue: Int) throws -> Bool {
        try lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "verify", "--mss", String(mss), "--queue", String(queue)]).status == 0
    }

    @Test func twoInstancesStopIndependently() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let socketB = Lab.privateSocket("\(lab.name)-b")
        defer { Lab.removePrivateSocket(socketB) }
        // Instance "0" (queue 0) clamps to 1300, instance "1" (queue 1) to 1250.
        var first: BackgroundProcess? = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules"])
        let second = try lab.startDaemon(["--mss", "1250", "--queue", "1", "--install-rules", "--control-socket", socketB])
        let mangle = try lab.exec(lab.gateway, ["iptables-save", "-t", "mangle"])
        #expect(mangle.contains(":MSSCLAMP ") && mangle.contains(":MSSCLAMP-1 "), "\(mangle)")
        let tables = try lab.exec(lab.gateway, ["nft", "list", "tables"])
        #expect(tables.contains("mssclamp_net\n") && tables.contains("mssclamp_net_1"), "\(tables)")
        #expect(try Self.verified(lab, mss: 1300, queue: 0))
        #expect(try Self.verified(lab, mss: 1250, queue: 1))
        // The first chain in FORWARD takes the SYN; whichever it is, it must be one of the two ceilings.
        #expect([1300, 1250].contains(try lab.handshakeMSS()))

        // A second daemon of instance 1 (another queue, same name) is refused; instance 1 is unharmed.
        let duplicate = try lab.spawn(lab.gateway, [
            BuiltProducts.mssclamp, "run", "--mss", "1000", "--queue", "2", "--instance", "1", "--install-rules",
            "--control-socket", "none",
        ])
        #expect(duplicate.waitForOutput(timeout: 30) { _ in !duplicate.isRunning })
        #expect(duplicate.stop() == 69, "\(duplicate.output)")
        #expect(duplicate.output.contains("instance 1 already runs"), "\(duplicate.output)")
        #expect(try Self.verified(lab, mss: 1250, queue: 1))
        // A daemon that finds instance 0's control socket in use is refused; probing it did no harm.
        let prober = try lab.spawn(lab.gateway, [
            BuiltProducts.mssclamp, "run", "--mss", "1000", "--queue", "3", "--control-socket", lab.controlSocket,
        ])
        #expect(prober.waitForOutput(timeout: 30) { _ in !prober.isRunning })
        #expect(prober.stop() == 69, "\(prober.output)")
        #expect(prober.output.contains("in use by another mssclamp"), "\(prober.output)")
        #expect(first?.isRunning == true)
        #expect(try lab.daemonClamped(socket: lab.controlSocket) >= 0)

        // Stop instance 0: instance 1's rules stay as they were, and its daemon takes the next SYN.
        #expect(first?.stop(signal: SIGTERM) == 0, "\(first?.output ?? "")")
        first = nil
        #expect(try Self.verified(lab, mss: 1250, queue: 1))
        let before = try lab.daemonClamped(socket: socketB)
        #expect(try lab.handshakeMSS() == 1250)
        #expect(try eventually(timeout: 5) { try lab.daemonClamped(socket: socketB) > before }, "instance 1 did not take the SYN")

        // Start instance 0 again, stop instance 1: instance 0 clamps alone. Instance 1's net stays after
        // its stop (as a single instance's does), so it is removed by name, which leaves instance 0 intact.
        let again = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules"])
        #expect(second.stop(signal: SIGTERM) == 0, "\(second.output)")
        #expect(!(try lab.exec(lab.gateway, ["iptables-save", "-t", "mangle"])).contains("MSSCLAMP-1"))
        try lab.exec(lab.gateway, [BuiltProducts.mssclamp, "rules", "remove", "--instance", "1"])
        #expect(!(try lab.exec(lab.gateway, ["nft", "list", "tables"])).contains("mssclamp_net_1"))
        #expect(try Self.verified(lab, mss: 1300, queue: 0))
        let beforeAgain = try lab.daemonClamped(socket: lab.controlSocket)
        #expect(try lab.handshakeMSS() == 1300)
        #expect(try eventually(timeout: 5) { try lab.daemonClamped(socket: lab.controlSocket) > beforeAgain }, "instance 0 did not take the SYN")
        #expect(again.stop(signal: SIGTERM) == 0, "\(again.output)")
    }
}
