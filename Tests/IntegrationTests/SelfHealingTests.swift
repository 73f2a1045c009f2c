import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 14: clamping that cannot be lost silently. Flushed rules come back by themselves; a recreated
/// tunnel interface keeps its peer's ceiling from its first SYN; the daemon starts with exactly
/// CAP_NET_ADMIN, and with --user from a directory that user cannot enter.
@Suite(
    "Self-healing rules, interfaces, unprivileged start",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct SelfHealingTests {
    /// Another tool flushes the mangle table, then the whole nf_tables ruleset: each time the daemon puts
    /// its rules (and the net) back within 2 s, says so in one line, and counts it; the next SYN is the
    /// daemon's again.
    @Test(arguments: [["iptables", "-t", "mangle", "-F"], ["nft", "flush", "ruleset"]])
    func flushedRulesComeBack(flush: [String]) throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1300", "--install-rules"])
        #expect(try lab.handshakeMSS() == 1300)
        try lab.exec(lab.gateway, flush)
        let flushed = Date()
        let back = try eventually(timeout: 10) {
            try lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "verify", "--mss", "1300"]).status == 0
        }
        let seconds = Date().timeIntervalSince(flushed)
        #expect(back, "the rules did not come back: \(daemon.output)")
        print("rules back \(Int(seconds * 1000)) ms after `\(flush.joined(separator: " "))`")
        #expect(seconds < 5, "took \(seconds) s")
        // `rules verify` can see the rules back a moment before the daemon's line reaches its output.
        let restoredLine = "rules restored after an outside change"
        #expect(daemon.waitForOutput(timeout: 10) { $0.contains(restoredLine) }, "\(daemon.output)")
        #expect(daemon.output.components(separatedBy: restoredLine).count - 1 == 1, "\(daemon.output)")
        #expect(try lab.statistics()["rulesRestored"] as? Int == 1)
        // The daemon takes SYNs again once the liveness switch reopens (its next turns after the restore):
        // a handshake then moves the daemon's count. Until then the net clamps, so every SYN is at 1300.
        let taken = try eventually(timeout: 10) {
            let before = try lab.daemonClamped()
            #expect(try lab.handshakeMSS() == 1300)
            // The worker publishes its counts just after the verdict.
            return try eventually(timeout: 2) { try lab.daemonClamped() > before }
        }
        #expect(taken, "the daemon did not take SYNs again: \((try? lab.statistics()) ?? [:])")
        #expect(daemon.stop(signal: SIGTERM) == 0)
    }

    /// A tunnel interface recreated with a new index (an OpenVPN or PPP restart) while SYNs flow: once it
    /// is up, no SYN through it gets the default ceiling.
    @Test func aRecreatedInterfaceKeepsItsPeer() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let config = TemporaryFile(unusedSuffix: ".toml")
        try "[defaults]\nmss4 = 1360\n\n[[peer]]\nname = \"tunnel\"\nin_interface = \"g-c\"\nmss = 1200\n"
            .write(toFile: config.path, atomically: true, encoding: .utf8)
        let daemon = try lab.startDaemon(["--config", config.path, "--install-rules"])
        #expect(try lab.handshakeMSS() == 1200)
        // The net behind the queue would lower a SYN the daemon left at 1360 (a stale interface index)
        // to 1200 as well: only its counter tells the two apart. It must not move.
        let netBefore = try lab.netClamped()
        let capture = try Capture(lab: lab, namespace: lab.server, interface: "s-m", filter: "tcp port 80 and tcp[tcpflags] & tcp-syn != 0")
        let load = try lab.spawn(lab.client, ["python3", Repository.script("labtool"), "rate", Lab.serverIPv4, "80", "50", "6"])
        usleep(1_000_000)
        // The link goes away and comes back with a new index, configured as the lab made it.
        try lab.exec(lab.gateway, ["ip", "link", "del", "g-c"])
        try Shell.check(["ip", "link", "add", "c-g", "netns", lab.client, "type", "veth", "peer", "name", "g-c", "netns", lab.gateway])
        try lab.exec(lab.gateway, ["ip", "addr", "add", "192.0.2.1/24", "dev", "g-c"])
        try lab.exec(lab.gateway, ["ip", "link", "set", "g-c", "up"])
        try lab.exec(lab.client, ["ip", "addr", "add", "192.0.2.2/24", "dev", "c-g"])
        try lab.exec(lab.client, ["ip", "link", "set", "c-g", "up"])
        try lab.exec(lab.client, ["ip", "route", "add", "default", "via", "192.0.2.1"])
        _ = try? lab.run(lab.client, ["ethtool", "-K", "c-g", "tx", "off"])
        #expect(load.waitForOutput(timeout: 30) { $0.contains("\"count\"") }, "\(load.output)")
        let dump = try capture.stop()
        let syns = segments(dump, flags: "S")
        let notClamped = syns.filter { !$0.contains("mss 1200,") }
        #expect(syns.count > 100, "SYNs seen: \(syns.count)")
        print("interface recreated under load: \(syns.count) SYNs captured, \(notClamped.count) without the peer's MSS 1200")
        #expect(notClamped.isEmpty, "SYNs through the recreated interface with another MSS: \(notClamped.prefix(3))")
        #expect(try lab.handshakeMSS() == 1200)
        #expect(try lab.netClamped() == netBefore, "the net, not the daemon, clamped SYNs through the recreated link: \(daemon.output)")
        daemon.stop(signal: SIGTERM)
    }

    /// Started without root, with exactly CAP_NET_ADMIN (as a container or setpriv gives it): no extra
    /// flag, it clamps, and it removes its rules on exit.
    @Test(.enabled(if: Shell.has("setpriv"), "setpriv (util-linux) is not installed"))
    func startsWithExactlyNetAdmin() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.spawn(lab.gateway, [
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all,+net_admin",
            "--ambient-caps=-all,+net_admin", "--bounding-set=-all,+net_admin",
            BuiltProducts.mssclamp, "run", "--mss", "1300", "--queue", "4", "--install-rules", "--control-socket", "none",
        ])
        #expect(daemon.waitForOutput(timeout: 20) { $0.contains("clamping on queue") || !daemon.isRunning }, "\(daemon.output)")
        #expect(daemon.isRunning, "\(daemon.output)")
        #expect(try lab.handshakeMSS() == 1300)
        #expect(daemon.stop(signal: SIGTERM) == 0, "\(daemon.output)")
        #expect(!(try lab.exec(lab.gateway, ["iptables-save", "-t", "mangle"])).contains("MSSCLAMP"))
    }

    /// `--user nobody` started from a directory nobody cannot enter: the daemon changes to / first, so the
    /// tools it runs later do not fail there.
    @Test func userStartedFromAClosedDirectory() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let closed = TemporaryFile(unusedSuffix: "-closed")
        try FileManager.default.createDirectory(atPath: closed.path, withIntermediateDirectories: true)
        chmod(closed.path, 0o700)
        defer { try? FileManager.default.removeItem(atPath: closed.path) }
        let daemon = try lab.spawn(lab.gateway, [
            "sh", "-c", "cd \(closed.path) && exec \(BuiltProducts.mssclamp) run --mss 1300 --queue 5 --install-rules --user nobody --control-socket none",
        ])
        #expect(daemon.waitForOutput(timeout: 20) { $0.contains("clamping on queue") || !daemon.isRunning }, "\(daemon.output)")
        #expect(try lab.handshakeMSS() == 1300)
        #expect(daemon.stop(signal: SIGTERM) == 0, "\(daemon.output)")
        #expect(daemon.output.contains("rules removed"), "\(daemon.output)")
    }
}
