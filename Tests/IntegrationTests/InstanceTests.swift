import Foundation
import Testing
import TestSupport

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
    static func verified(_ lab: Lab, mss: Int, queue: Int, scope: [String] = []) throws -> Bool {
        try lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "verify", "--mss", String(mss), "--queue", String(queue)] + scope).status == 0
    }

    @Test func twoInstancesStopIndependently() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let socketB = Lab.privateSocket("\(lab.name)-b")
        defer { Lab.removePrivateSocket(socketB) }
        // Instance "0" (queue 0) clamps to 1300, instance "1" (queue 1, scoped to the client's link: one
        // unscoped instance per host) to 1250.
        var first: BackgroundProcess? = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules"])
        let second = try lab.startDaemon(["--mss", "1250", "--queue", "1", "--interface", "g-c", "--install-rules", "--control-socket", socketB])
        let mangle = try lab.exec(lab.gateway, ["iptables-save", "-t", "mangle"])
        #expect(mangle.contains(":MSSCLAMP ") && mangle.contains(":MSSCLAMP-1 "), "\(mangle)")
        let tables = try lab.exec(lab.gateway, ["nft", "list", "tables"])
        #expect(tables.contains("mssclamp_net\n") && tables.contains("mssclamp_net_1"), "\(tables)")
        #expect(try Self.verified(lab, mss: 1300, queue: 0))
        #expect(try Self.verified(lab, mss: 1250, queue: 1, scope: ["--interface", "g-c"]))
        // The first chain in FORWARD takes the SYN; whichever it is, it must be one of the two ceilings,
        // and the daemon of that ceiling counted it.
        let clampedBefore = [1300: try lab.daemonClamped(socket: lab.controlSocket), 1250: try lab.daemonClamped(socket: socketB)]
        let seen = try lab.handshakeMSS()
        #expect([1300, 1250].contains(seen))
        let taker = seen == 1300 ? lab.controlSocket : socketB
        #expect(try eventually(timeout: 5) { try lab.daemonClamped(socket: taker) > clampedBefore[seen] ?? .max }, "no daemon counted the SYN")
        let firstClamped = try lab.daemonClamped(socket: lab.controlSocket)

        // A second daemon of instance 1 (another queue, same name) is refused; instance 1 is unharmed.
        let duplicate = try lab.spawn(lab.gateway, [
            BuiltProducts.mssclamp, "run", "--mss", "1000", "--queue", "2", "--instance", "1", "--install-rules",
            "--control-socket", "none",
        ])
        #expect(duplicate.waitForOutput(timeout: 30) { _ in !duplicate.isRunning })
        #expect(duplicate.stop() == 69, "\(duplicate.output)")
        #expect(duplicate.output.contains("instance 1 already runs"), "\(duplicate.output)")
        #expect(try Self.verified(lab, mss: 1250, queue: 1, scope: ["--interface", "g-c"]))
        // A daemon that finds instance 0's control socket in use is refused; probing it did no harm.
        let prober = try lab.spawn(lab.gateway, [
            BuiltProducts.mssclamp, "run", "--mss", "1000", "--queue", "3", "--interface", "g-x", "--control-socket", lab.controlSocket,
        ])
        #expect(prober.waitForOutput(timeout: 30) { _ in !prober.isRunning })
        #expect(prober.stop() == 69, "\(prober.output)")
        #expect(prober.output.contains("in use by another mssclamp"), "\(prober.output)")
        #expect(first?.isRunning == true)
        // Instance 0 still answers, and the refused daemons took nothing of its traffic or counters.
        #expect(try lab.daemonClamped(socket: lab.controlSocket) == firstClamped)

        // Stop instance 0: instance 1's rules stay as they were, and its daemon takes the next SYN.
        #expect(first?.stop(signal: SIGTERM) == 0, "\(first?.output ?? "")")
        first = nil
        #expect(try Self.verified(lab, mss: 1250, queue: 1, scope: ["--interface", "g-c"]))
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

    /// Issue 19: two instances scoped to their own tunnels (here: two client links) each clamp their own
    /// clients' SYNs to their own ceiling, before and after the other stops; a second unscoped instance
    /// is refused and the first is unharmed.
    @Test func scopedInstancesOwnTheirTraffic() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        // A second client on a link of its own (g-c2), 192.0.2.200 routed to it by a host route.
        let second = "\(lab.name)-c2"
        try Shell.check(["ip", "netns", "add", second])
        defer { _ = try? Shell.run(["ip", "netns", "del", second]) }
        try Shell.check(["ip", "link", "add", "c2-g", "netns", second, "type", "veth", "peer", "name", "g-c2", "netns", lab.gateway])
        for command in [
            ["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "c2-g", "up"], ["ip", "addr", "add", "192.0.2.200/32", "dev", "c2-g"],
            ["ip", "route", "add", "192.0.2.1/32", "dev", "c2-g"], ["ip", "route", "add", "default", "via", "192.0.2.1"],
            ["sysctl", "-qw", "net.ipv4.tcp_mtu_probing=0"],
        ] { try Shell.check(["ip", "netns", "exec", second] + command) }
        try lab.exec(lab.gateway, ["ip", "link", "set", "g-c2", "up"])
        try lab.exec(lab.gateway, ["ip", "route", "add", "192.0.2.200/32", "dev", "g-c2"])
        let secondMSS = { () throws -> Int in
            let mss = try lab.serverMSS(from: second, host: Lab.serverIPv4)
            return mss.maxseg + (mss.timestamps ? 12 : 0)
        }
        let socketB = Lab.privateSocket("\(lab.name)-b")
        defer { Lab.removePrivateSocket(socketB) }
        var first: BackgroundProcess? = try lab.startDaemon(["--mss", "1360", "--queue", "1", "--interface", "g-c", "--install-rules"])
        let other = try lab.startDaemon(["--mss", "1300", "--queue", "2", "--interface", "g-c2", "--install-rules", "--control-socket", socketB])
        #expect(try lab.handshakeMSS() == 1360)
        #expect(try secondMSS() == 1300)
        // Each daemon took its own client's SYN, not the other's.
        #expect(try eventually(timeout: 5) { try lab.daemonClamped() > 0 && lab.daemonClamped(socket: socketB) > 0 })

        // Stopped, an instance's net still clamps its own clients only; the other keeps its ceiling.
        #expect(first?.stop(signal: SIGTERM) == 0)
        first = nil
        #expect(try lab.handshakeMSS() == 1360)
        #expect(try secondMSS() == 1300)
        first = try lab.startDaemon(["--mss", "1360", "--queue", "1", "--interface", "g-c", "--install-rules"])
        #expect(other.stop(signal: SIGTERM) == 0)
        #expect(try lab.handshakeMSS() == 1360)
        #expect(try secondMSS() == 1300)

        // One unscoped instance may run beside them; a second one is refused, and the first is unharmed.
        let socketC = Lab.privateSocket("\(lab.name)-c")
        defer { Lab.removePrivateSocket(socketC) }
        let unscoped = try lab.startDaemon(["--mss", "1200", "--queue", "3", "--control-socket", socketC])
        let refused = try lab.run(lab.gateway, [BuiltProducts.mssclamp, "run", "--mss", "1100", "--queue", "4", "--control-socket", "none"], timeout: 30)
        #expect(refused.status == 69, "\(refused)")
        #expect(refused.error.contains("another mssclamp instance without a scope"), "\(refused.error)")
        #expect(unscoped.isRunning)
        #expect(try lab.statistics(socket: socketC)["outcomes"] != nil)
        #expect(unscoped.stop(signal: SIGTERM) == 0)
        #expect(first?.stop(signal: SIGTERM) == 0)
        for instance in ["1", "2"] { _ = try? lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "remove", "--instance", instance]) }
    }
}
