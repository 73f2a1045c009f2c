import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 10's faults, each against the real daemon in the black-hole lab: clients that hang up, stall
/// or flood both sockets; a namespace whose loopback is down; restarts under load; a stopped process;
/// reloads that would take every peer away. Each test asserts what a failure would change.
@Suite(
    "Hardening: hang-ups, floods, restarts, stalls",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct HardeningTests {
    static func json(_ text: String) -> [String: Any] {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
    }

    static func labtool(_ lab: Lab, _ namespace: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> [String: Any] {
        json(try lab.exec(namespace, ["python3", Repository.script("labtool")] + arguments, timeout: timeout))
    }

    /// The handshake MSS the server saw for a fresh connection (what the receiver reads).
    @Test func bothSocketsSurviveHangUpsFloodsAndHugeRequests() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules", "--metrics", "127.0.0.1:9469"])
        let control = "unix:\(lab.controlSocket)"
        let metrics = "tcp:127.0.0.1:9469"
        for target in [control, metrics] {
            for mode in ["request", "connect", "half"] {
                let result = try Self.labtool(lab, lab.gateway, ["hangups", target, "100", mode])
                #expect(result["hung_up"] as? Int == 100, "\(target) \(mode): \(result)")
            }
            // A 10 MB line without a newline: the daemon stops reading at its size limit and closes the
            // connection; the client cannot send it all (what it sent fits in the socket buffers).
            let big = try Self.labtool(lab, lab.gateway, ["bigline", target, "10000000"])
            #expect((big["sent"] as? Int ?? .max) < 10_000_000 && big["error"] != nil, "\(target) read a 10 MB line to the end: \(big)")
            #expect(daemon.isRunning, "the daemon died after early hang-ups or a 10 MB request on \(target): \(daemon.output)")
        }
        // 500 idle connections on each socket while an operator asks for stats and Prometheus scrapes.
        let idleControl = try lab.spawn(lab.gateway, ["python3", Repository.script("labtool"), "idle", control, "500", "12"])
        let idleMetrics = try lab.spawn(lab.gateway, ["python3", Repository.script("labtool"), "idle", metrics, "500", "12"])
        #expect(idleControl.waitForOutput(timeout: 10) { $0.contains("\"open\"") })
        #expect(idleMetrics.waitForOutput(timeout: 10) { $0.contains("\"open\"") })
        let stats = try lab.mssclamp(["stats", "--socket", lab.controlSocket, "--timeout", "5"])
        #expect(stats.status == 0, "stats during an idle flood: \(stats.error)")
        #expect(stats.output.contains("mssclamp statistics"))
        let scrape = try lab.run(lab.gateway, ["curl", "-s", "--max-time", "5", "http://127.0.0.1:9469/metrics"])
        #expect(scrape.status == 0 && scrape.output.contains("mssclamp_packets_total"), "scrape during an idle flood: \(scrape.error)")
        // And the next SYN is clamped.
        #expect(try lab.handshakeMSS() == 1300)
        #expect(daemon.isRunning)
        #expect(daemon.stop(signal: SIGTERM, timeout: 5) == 0, "\(daemon.output)")
    }

    /// Foundation's Process could not start a tool in a namespace whose loopback is down and hung for
    /// ever. Apply, verify and remove must finish, and remove must leave the tables as they were.
    @Test func ruleToolsWorkWithLoopbackDown() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        try namespace.exec(["ip", "link", "set", "lo", "down"])
        // Someone else's rule, which must survive.
        try namespace.exec(["iptables", "-t", "mangle", "-A", "PREROUTING", "-p", "udp", "-j", "ACCEPT"])
        func saved() throws -> String { try RulesTests.saved(namespace, "nft") }
        let before = try saved()
        let flags = ["--mss", "1360", "--mss6", "1340", "--queue", "0-1", "--hooks", "forward,output"]
        let started = Date()
        let apply = try namespace.run([BuiltProducts.mssclamp, "rules", "apply"] + flags, timeout: 60)
        #expect(apply.status == 0, "\(apply.error)")
        let verify = try namespace.run([BuiltProducts.mssclamp, "rules", "verify"] + flags, timeout: 60)
        #expect(verify.status == 0, "\(verify.output) \(verify.error)")
        let remove = try namespace.run([BuiltProducts.mssclamp, "rules", "remove"] + flags, timeout: 60)
        #expect(remove.status == 0, "\(remove.error)")
        #expect(Date().timeIntervalSince(started) < 50, "a hang: the three commands took \(Date().timeIntervalSince(started)) s")
        #expect(try saved() == before, "remove left a residue")

        // The daemon too: it installs its rules, clamps nothing here, and stops cleanly.
        let daemon = try namespace.spawn([
            BuiltProducts.mssclamp, "run", "--mss", "1360", "--queue", "7", "--install-rules", "--control-socket", "none",
        ])
        #expect(daemon.waitForOutput(timeout: 30) { $0.contains("clamping on queue") }, "\(daemon.output)")
        #expect(daemon.stop(signal: SIGTERM, timeout: 15) == 0, "\(daemon.output)")
        #expect(daemon.output.contains("rules removed"), "\(daemon.output)")
        #expect(try saved() == before)
    }

    /// Three restarts while clients open 100 connections a second: a SYN dropped or held by a stop or a
    /// start shows as a handshake of a second or more (the client's SYN retransmission).
    @Test func threeRestartsUnderLoadLoseNoSYN() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let arguments = ["--mss", "1300", "--queue", "0", "--install-rules"]
        var daemon = try lab.startDaemon(arguments)
        let load = try lab.spawn(lab.client, ["python3", Repository.script("labtool"), "rate", Lab.serverIPv4, "80", "100", "14"])
        usleep(1_500_000)
        for _ in 0..<3 {
            #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0, "\(daemon.output)")
            #expect(daemon.output.contains("rules removed"))
            daemon = try lab.startDaemon(arguments)
            usleep(2_500_000)
        }
        #expect(load.waitForOutput(timeout: 40) { $0.contains("\"count\"") }, "\(load.output)")
        let result = Self.json(load.output)
        #expect(result["count"] as? Int == 1400, "\(result)")
        #expect(result["failed"] as? Int == 0, "\(result)")
        #expect(result["slow"] as? Int == 0, "connections that waited for a SYN retransmission: \(result)")
        #expect(try lab.handshakeMSS() == 1300)
        daemon.stop(signal: SIGTERM, timeout: 10)
    }

    /// A stopped daemon: `stats` says so within its timeout instead of hanging, and once the daemon runs
    /// again the stall is on record.
    @Test func aStoppedDaemonIsReportedAndRecorded() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules"])
        kill(daemon.pid, SIGSTOP)
        // `ip netns exec` is the spawned process; the daemon is its child (exec'd: the same pid).
        let started = Date()
        let stats = try lab.mssclamp(["stats", "--socket", lab.controlSocket, "--timeout", "2"])
        kill(daemon.pid, SIGCONT)
        #expect(stats.status == 69, "\(stats.output) \(stats.error)")
        #expect(stats.error.contains("no answer from the daemon"), "\(stats.error)")
        #expect(Date().timeIntervalSince(started) < 20)
        // The stall is counted on the worker's first turn after SIGCONT.
        #expect(try eventually(timeout: 10) { (try lab.statistics()["workerStalls"] as? Int ?? 0) >= 1 }, "\((try? lab.statistics()) ?? [:])")
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("stalled") || $0.contains("did not run") }, "\(daemon.output)")
        #expect(try lab.handshakeMSS() == 1300)
        daemon.stop(signal: SIGTERM)
    }

    /// An empty (truncated) file is refused on SIGHUP and the peers stay; a [queue] change that needs a
    /// restart is named; `reload --allow-empty` takes the empty file when the operator means it.
    @Test func reloadTrapsAreRefusedOrNamed() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let config = TemporaryFile(unusedSuffix: ".toml")
        try "[queue]\nnum = 0\n\n[defaults]\nmss4 = 1360\n\n[[peer]]\nname = \"clients\"\nmatch = [\"192.0.2.0/24\"]\nmss = 1200\n"
            .write(toFile: config.path, atomically: true, encoding: .utf8)
        let daemon = try lab.startDaemon(["--config", config.path, "--install-rules"])
        #expect(try lab.handshakeMSS() == 1200)

        try "".write(toFile: config.path, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)
        #expect(daemon.waitForOutput { $0.contains("reload rejected") }, "\(daemon.output)")
        #expect(daemon.output.contains("the file is empty"), "\(daemon.output)")
        #expect(try lab.handshakeMSS() == 1200, "the running policy must stay")

        try "[queue]\nnum = 3\n\n[defaults]\nmss4 = 1360\n\n[[peer]]\nname = \"clients\"\nmatch = [\"192.0.2.0/24\"]\nmss = 1250\n"
            .write(toFile: config.path, atomically: true, encoding: .utf8)
        let reload = try lab.mssclamp(["reload", "--socket", lab.controlSocket])
        #expect(reload.status == 0, "\(reload.error)")
        #expect(reload.output.contains("needs a restart") && reload.output.contains("queue.num (0 -> 3)"), "\(reload.output)")
        #expect(try lab.handshakeMSS() == 1250)

        try "# nothing here\n".write(toFile: config.path, atomically: true, encoding: .utf8)
        let refused = try lab.mssclamp(["reload", "--socket", lab.controlSocket])
        #expect(refused.status == 65 && refused.error.contains("--allow-empty"), "\(refused.error)")
        let allowed = try lab.mssclamp(["reload", "--socket", lab.controlSocket, "--allow-empty"])
        #expect(allowed.status == 0, "\(allowed.error)")
        #expect(try lab.handshakeMSS() == 1360)
        #expect(daemon.stop(signal: SIGTERM) == 0)
    }

    /// A 100,000-peer policy: the daemon starts, `peer list` pages through all of it, and `stats` answers
    /// while a reload of the whole file runs.
    @Test func aHundredThousandPeers() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let config = TemporaryFile(unusedSuffix: ".toml")
        var text = "[defaults]\nmss4 = 1360\n"
        for index in 0..<100_000 {
            text += "[[peer]]\nname = \"c\(index)\"\nmatch = [\"10.\(index >> 16).\((index >> 8) & 255).\(index & 255)/32\"]\nmss = \(1200 + index % 100)\n"
        }
        try text.write(toFile: config.path, atomically: true, encoding: .utf8)
        let daemon = try lab.startDaemon(["--config", config.path, "--install-rules"], timeout: 90)
        let list = try Shell.run([BuiltProducts.mssclamp, "peer", "list", "--json", "--socket", lab.controlSocket], timeout: 120)
        #expect(list.status == 0, "\(list.error)")
        let peers = try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]] ?? []
        #expect(peers.count == 100_000)
        // The file keeps changing for 8 s (a comment appended every 100 ms), so the reload is still
        // running, waiting for it to settle, when `stats` answers; then it reads all 100,000 peers.
        let writer = try lab.spawn(lab.gateway, [
            "sh", "-c", "for i in $(seq 80); do echo \"# $i\" >> \(config.path); sleep 0.1; done",
        ])
        defer { writer.stop() }
        let reload = try lab.spawn(lab.gateway, [BuiltProducts.mssclamp, "reload", "--socket", lab.controlSocket])
        usleep(300_000)
        let stats = try lab.mssclamp(["stats", "--socket", lab.controlSocket, "--timeout", "10"])
        #expect(stats.status == 0, "stats while a 100,000-peer reload runs: \(stats.error)")
        #expect(reload.isRunning, "the reload was over before stats answered: \(reload.output)")
        #expect(reload.waitForOutput(timeout: 120) { $0.contains("policy reloaded") }, "\(reload.output)")
        #expect(try lab.handshakeMSS() == 1360)
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0)
    }

    /// Output nobody reads (a pipe to a process that never reads it) or a reader that went away: logging
    /// must never hold up the daemon. 3,000 peer changes log far more than a pipe holds.
    @Test(arguments: ["sleep 600", "true"])
    func outputNobodyReadsNeverStallsTheDaemon(reader: String) throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let command = "\(BuiltProducts.mssclamp) run --mss 1300 --queue 0 --install-rules --control-socket \(lab.controlSocket) 2>&1 | \(reader)"
        _ = try lab.spawn(lab.gateway, ["sh", "-c", command])
        #expect(try eventually(timeout: 30) { FileManager.default.fileExists(atPath: lab.controlSocket) })
        usleep(300_000)
        // Ceilings above the default: the lowest ceiling, and so the rules, stay as they are.
        let churn = try Self.labtool(lab, lab.gateway, ["churn", lab.controlSocket, "1500", "1400"], timeout: 300)
        #expect(churn["added"] as? Int == 1500 && churn["removed"] as? Int == 1500, "\(churn)")
        let stats = try lab.mssclamp(["stats", "--socket", lab.controlSocket, "--timeout", "5"])
        #expect(stats.status == 0, "\(stats.error)")
        #expect(try lab.handshakeMSS() == 1300)
    }
}
