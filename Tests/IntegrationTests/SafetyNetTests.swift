import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 11 end to end, through `mssclamp run --install-rules`: SYNs that fool a first-option check
/// reach the server with every MSS it reads at or below the ceiling, and the kernel safety net clamps
/// SYNs per peer while the daemon is killed or stopped, counting them.
@Suite(
    "Receiver-exact clamping and the kernel safety net",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct SafetyNetTests {
    static let policy = """
        [defaults]
        mss4 = 1360
        mss6 = 1340

        [[peer]]
        name = "clients"
        match = ["192.0.2.0/25"]
        mss = 1300
        """

    static func labtool(_ lab: Lab, _ namespace: String, _ arguments: [String]) throws -> String {
        try lab.exec(namespace, ["python3", Repository.script("labtool")] + arguments)
    }

    /// The server-side MSS of a fresh connection from the client (what the receiver took).
    /// Starts the server, then the daemon with `policy` and its rules; the file lives as long as the
    /// value returned with the daemon.
    static func startWithPolicy(_ lab: Lab) throws -> (BackgroundProcess, TemporaryFile) {
        try lab.startServer()
        let config = TemporaryFile(unusedSuffix: ".toml")
        try policy.write(toFile: config.path, atomically: true, encoding: .utf8)
        return (try lab.startDaemon(["--config", config.path, "--install-rules"]), config)
    }

    static func netClamped(_ lab: Lab) throws -> Int { try lab.netClamped() }

    /// The four traps of issue 11, as raw SYNs through the daemon: a capture at the server, read the way
    /// Linux reads options, must show no MSS above the ceiling and a valid checksum on each.
    @Test func receiverTrapsArriveClamped() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1360", "--mss6", "1340", "--install-rules"])
        let capture = try Capture(lab: lab, namespace: lab.server, interface: "s-m", filter: "tcp port 80")
        let traps: [(source: String, destination: String, options: String, ceiling: Int)] = [
            (Lab.clientIPv4, Lab.serverIPv4, "02040514020405b4", 1360),  // [MSS 1300, MSS 1460]
            ("2001:db8:c::2", Lab.serverIPv6, "020404b0020405dc", 1340),  // IPv6 [MSS 1200, MSS 1500]
            (Lab.clientIPv4, Lab.serverIPv4, "020405b408000000", 1360),  // [MSS 1460, option of length 0]
            (Lab.clientIPv4, Lab.serverIPv4, "020405b4011eff00", 1360),  // [MSS 1460, NOP, option claiming 255]
        ]
        for trap in traps {
            _ = try Self.labtool(lab, lab.client, ["send-syn", trap.source, trap.destination, "80", trap.options])
        }
        _ = try capture.stop(until: { segments($0, flags: "S").count >= traps.count })
        let lines = try Shell.check(["python3", Repository.script("labtool"), "syn-check", capture.file.path, "80"])
            .split(separator: "\n")
        let seen = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(seen.count == traps.count, "SYNs at the server: \(lines)")
        for (trap, syn) in zip(traps, seen) {
            let mss = syn["mss"] as? [Int] ?? []
            #expect(!mss.isEmpty && mss.allSatisfy { $0 <= trap.ceiling }, "\(trap.options): the receiver reads \(mss)")
            #expect(syn["checksum_ok"] as? Bool == true, "\(trap.options): \(syn)")
        }
        #expect(try lab.checksumErrors(lab.server) == 0)
        // The worker publishes its counts just after the verdict.
        #expect(try eventually(timeout: 5) { try lab.statistics()["malformedClamped"] as? Int == 2 }, "\((try? lab.statistics()) ?? [:])")
        daemon.stop(signal: SIGTERM)
    }

    /// SIGKILL: the NFQUEUE rules stay behind with --queue-bypass, and the safety net clamps every new SYN
    /// to its peer's ceiling, counted; `rules remove` then leaves nothing.
    @Test func aKilledDaemonLeavesTheKernelClamping() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        let (daemon, config) = try Self.startWithPolicy(lab)
        defer { _ = config }
        #expect(try lab.handshakeMSS() == 1300)
        #expect(try Self.netClamped(lab) == 0, "the daemon took every SYN")
        daemon.stop(signal: SIGKILL)
        #expect(try lab.handshakeMSS() == 1300, "the client's peer ceiling, from the kernel")
        #expect(try lab.handshakeMSS(host: Lab.serverIPv6) == 1340, "IPv6: the default ceiling")
        #expect(try Self.netClamped(lab) >= 4, "SYN and SYN/ACK of two connections")
        #expect(try lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "remove"]).status == 0)
        let left = try lab.exec(lab.gateway, ["sh", "-c", "iptables-save; ip6tables-save; nft list ruleset"])
        #expect(!left.contains("MSSCLAMP") && !left.contains("mssclamp"), "\(left)")
    }

    /// The whole process stopped (SIGSTOP), or only its worker thread stuck while the main loop runs on
    /// (ptrace; the main loop must see the stale heartbeat and stop refreshing the liveness switch):
    /// within the liveness timeout new SYNs stop going to the queue and arrive at once, clamped by the
    /// kernel to their peer's ceiling; once it runs again the daemon takes them again.
    @Test(arguments: ["process", "worker"])
    func aStoppedDaemonsSYNsArriveClampedByTheKernel(stopped: String) throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        let (daemon, config) = try Self.startWithPolicy(lab)
        defer { _ = config }
        #expect(try lab.handshakeMSS() == 1300)
        var freezer: BackgroundProcess?
        if stopped == "process" {
            kill(daemon.pid, SIGSTOP)
            usleep(3_000_000)  // past the liveness timeout (2 s)
        } else {
            let thread = try lab.spawn(lab.gateway, ["python3", Repository.script("labtool"), "freeze-thread", String(daemon.pid), "mssclamp-q0", "10"])
            freezer = thread
            #expect(thread.waitForOutput(timeout: 10) { $0.contains("frozen") }, "\(thread.output)")
            usleep(4_500_000)  // past the stall threshold (receive timeout + 1 s), then the liveness timeout
            #expect(daemon.isRunning)
        }
        let load = try Self.labtool(lab, lab.client, ["rate", Lab.serverIPv4, "80", "20", "2"])
        let result = try JSONSerialization.jsonObject(with: Data(load.utf8)) as? [String: Any] ?? [:]
        #expect(result["count"] as? Int == 40 && result["slow"] as? Int == 0, "connections while stopped: \(result)")
        #expect(try lab.handshakeMSS() == 1300)
        #expect(try Self.netClamped(lab) >= 82, "40 SYNs and SYN/ACKs, and one more connection")
        if let freezer {
            #expect(freezer.waitForOutput(timeout: 20) { $0.contains("frozen_for") }, "\(freezer.output)")
            #expect(freezer.output.contains("\"process_ended\": false"), "\(freezer.output)")
        } else {
            kill(daemon.pid, SIGCONT)
        }
        // Once the worker's next turn refreshes the liveness switch, a connection's SYNs go to the daemon
        // again and the net's counter (updated as the kernel clamps) stays still.
        let taken = try eventually(timeout: 10) {
            let before = try Self.netClamped(lab)
            #expect(try lab.handshakeMSS() == 1300)
            return try Self.netClamped(lab) == before
        }
        #expect(taken, "once it runs again the daemon takes the SYNs again")
        #expect(daemon.stop(signal: SIGTERM) == 0)
    }

    /// Overload shedding: 600 SYN/s of real connections. With a queue rate of 100 SYN/s (burst 100) the
    /// daemon queues a sample and leaves the rest to the kernel safety net; with 20 SYN/s (600 is over 16
    /// times that) it queues none and reads the net's counter to see the end. Either way nothing is lost
    /// or slow, the net counts what it clamped, and once the load is over every SYN is queued again.
    @Test(arguments: [("100", "is queued, the kernel safety net clamps the rest"), ("20", "no SYN is queued")])
    func anOverloadIsShedToTheNetAndEnds(rate: String, logged: String) throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let config = TemporaryFile(unusedSuffix: ".toml")
        try Self.policy.write(toFile: config.path, atomically: true, encoding: .utf8)
        let daemon = try lab.startDaemon(["--config", config.path, "--install-rules", "--queue-rate", rate, "--queue-burst", "100"])
        #expect(try lab.handshakeMSS() == 1300)
        let netBefore = try Self.netClamped(lab)
        // 300 connections a second for 4 s: 600 SYNs and SYN/ACKs a second through the router.
        let load = try Self.labtool(lab, lab.client, ["rate", Lab.serverIPv4, "80", "300", "4"])
        let result = try JSONSerialization.jsonObject(with: Data(load.utf8)) as? [String: Any] ?? [:]
        #expect(result["count"] as? Int == 1200 && result["slow"] as? Int == 0 && result["failed"] as? Int == 0, "\(result)")
        let shedByNet = try Self.netClamped(lab) - netBefore
        #expect(shedByNet >= 600, "the net clamped what was shed: \(shedByNet)")
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("overload: about") && $0.contains(logged) }, "\(daemon.output)")
        var stats = try lab.statistics()
        #expect(stats["sheddingEpisodes"] as? Int ?? 0 >= 1, "\(stats)")
        // Quiet: within a few checks every SYN is queued again and the daemon clamps it.
        let queuedAgain = try eventually(timeout: 10) {
            stats = try lab.statistics()
            return stats["queuedShare"] as? Double == 1
        }
        #expect(queuedAgain, "\(stats)")
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("overload over") }, "\(daemon.output)")
        let save = try lab.exec(lab.gateway, ["iptables-save", "-t", "mangle"])
        #expect(save.contains("-A FORWARD -j MSSCLAMP") && !save.contains("statistic"), "\(save)")
        let net = try Self.netClamped(lab)
        #expect(try lab.handshakeMSS() == 1300)
        #expect(try Self.netClamped(lab) == net, "the daemon, not the net, clamped the new connection")
        #expect(daemon.stop(signal: SIGTERM) == 0)
    }
}
