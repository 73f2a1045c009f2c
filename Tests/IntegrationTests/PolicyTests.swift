import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// End-to-end per-peer policy: one daemon, two client subnets with different ceilings, live peers through
/// the control socket, and reloads (good and bad) with SIGHUP, all through the real kernel queue.
@Suite(
    "Per-peer policy in the black-hole lab",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct PolicyTests {
    /// The client's second address, in the other /25 of 192.0.2.0/24.
    static let secondClient = "192.0.2.130"

    static func prepare(_ lab: Lab) throws {
        try lab.exec(lab.client, ["ip", "addr", "add", "\(secondClient)/24", "dev", "c-g"])
        try lab.startServer()
    }

    /// The MSS the server's kernel took from the SYN: TCP_MAXSEG plus the timestamp option it subtracts.
    @Test func twoSubnetsGetTheirOwnCeilings() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try Self.prepare(lab)
        let config = TemporaryFile(unusedSuffix: ".toml")
        try """
            [defaults]
            mss4 = 1360
            mss6 = 1340

            [[peer]]
            name = "subnet-a"
            match = ["192.0.2.0/25", "2001:db8:c::/64"]
            mss = 1300

            [[peer]]
            name = "subnet-b"
            match = ["192.0.2.128/25"]
            mss = 1200
            """.write(toFile: config.path, atomically: true, encoding: .utf8)
        let daemon = try lab.startDaemon(["--config", config.path, "--queue", "0", "--install-rules"])
        let capture = try Capture(
            lab: lab, namespace: lab.server, interface: "s-m", filter: "tcp port 80 and tcp[tcpflags] & tcp-syn != 0")

        #expect(try lab.handshakeMSS(source: Lab.clientIPv4) == 1300)
        #expect(try lab.handshakeMSS(source: Self.secondClient) == 1200)
        // IPv6 from subnet-a: mss6 defaults to mss - 20.
        let v6 = try lab.serverMSS(from: lab.client, host: Lab.serverIPv6)
        #expect(v6.maxseg + (v6.timestamps ? 12 : 0) == 1280)

        let dump = try capture.stop()
        let syns = segments(dump, flags: "S")
        #expect(syns.contains { $0.contains("\(Lab.clientIPv4).") && $0.contains("mss 1300,") }, "\(dump)")
        #expect(syns.contains { $0.contains("\(Self.secondClient).") && $0.contains("mss 1200,") }, "\(dump)")

        let list = try lab.mssclamp(["peer", "list", "--json", "--socket", lab.controlSocket])
        #expect(list.status == 0, "\(list.error)")
        let peers = try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]] ?? []
        let seen = Dictionary(uniqueKeysWithValues: peers.map { ($0["name"] as? String ?? "", ($0["counters"] as? [String: Any])?["seen"] as? Int ?? -1) })
        // SYN and SYN/ACK of each connection (the SYN/ACK's destination is the client).
        #expect((seen["subnet-a"] ?? 0) >= 4 && (seen["subnet-b"] ?? 0) >= 2, "\(list.output)")
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0, "\(daemon.output)")
    }

    @Test func livePeersAndReloadsChangeTheNextConnection() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try Self.prepare(lab)
        let config = TemporaryFile(unusedSuffix: ".toml")
        let good = """
            [defaults]
            mss4 = 1360

            [[peer]]
            name = "subnet-a"
            match = ["192.0.2.0/25"]
            mss = 1300
            """
        try good.write(toFile: config.path, atomically: true, encoding: .utf8)
        let daemon = try lab.startDaemon(["--config", config.path, "--queue", "0", "--install-rules"])
        let socket = ["--socket", lab.controlSocket]
        #expect(try lab.handshakeMSS(source: Self.secondClient) == 1360)

        // A live peer applies to the next connection, without a restart.
        let add = try lab.mssclamp(["peer", "add", "live-b", "--match", "192.0.2.128/25", "--mss", "1200"] + socket)
        #expect(add.status == 0, "\(add.output) \(add.error)")
        #expect(try lab.handshakeMSS(source: Self.secondClient) == 1200)
        #expect(try lab.handshakeMSS(source: Lab.clientIPv4) == 1300)

        // A peer that claims a prefix another peer owns is refused; nothing changes.
        let clash = try lab.mssclamp(["peer", "add", "clash", "--match", "192.0.2.0/25", "--mss", "1100"] + socket)
        #expect(clash.status == 65 && clash.error.contains("already claimed by peer \"subnet-a\""), "\(clash.error)")

        // A broken file sent with SIGHUP is rejected with file, line and key; the old policy keeps working.
        try (good + "\nbogus_key = 1\n").replacingOccurrences(of: "mss = 1300", with: "mss = 70000")
            .write(toFile: config.path, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("reload rejected") }, "\(daemon.output)")
        #expect(daemon.output.contains("\(config.path):7: peer \"subnet-a\".mss: MSS 70000 is outside 88-65495"), "\(daemon.output)")
        #expect(daemon.output.contains("\(config.path):8: peer \"subnet-a\".bogus_key: unknown key"), "\(daemon.output)")
        #expect(try lab.handshakeMSS(source: Lab.clientIPv4) == 1300)
        #expect(try lab.handshakeMSS(source: Self.secondClient) == 1200)

        // A good file is taken; the live peer stays.
        try good.replacingOccurrences(of: "mss = 1300", with: "mss = 1250")
            .write(toFile: config.path, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("policy reloaded") }, "\(daemon.output)")
        #expect(try lab.handshakeMSS(source: Lab.clientIPv4) == 1250)
        #expect(try lab.handshakeMSS(source: Self.secondClient) == 1200)

        // A live peer with a new ceiling reaches the kernel safety net by element updates: the net's map
        // sends the prefix to a new clamp chain.
        let low = try lab.mssclamp(["peer", "add", "low", "--match", "198.51.100.0/24", "--mss", "1000"] + socket)
        #expect(low.status == 0, "\(low.error)")
        // The answer comes once the peer is in force for the daemon; the net follows a moment later.
        let followed = try eventually(timeout: 5) {
            let net = try lab.exec(lab.gateway, ["nft", "list", "table", "inet", "mssclamp_net"])
            return net.contains("198.51.100.0/24 : jump clamp_1000") && net.contains("chain clamp_1000")
        }
        #expect(followed, "\((try? lab.exec(lab.gateway, ["nft", "list", "table", "inet", "mssclamp_net"])) ?? "")")
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("safety net updated") }, "\(daemon.output)")

        // peer save appends the live peers to the file; the result validates.
        let save = try lab.mssclamp(["peer", "save"] + socket)
        #expect(save.status == 0 && save.output.contains("2 live peer(s) appended"), "\(save.output) \(save.error)")
        let check = try lab.mssclamp(["check", "--config", config.path])
        #expect(check.status == 0 && check.output.contains("peer live-b: mss 1200/1180"), "\(check.output) \(check.error)")

        let stats = try lab.mssclamp(["stats", "--json"] + socket)
        #expect(stats.status == 0 && stats.output.contains("\"live-b\""), "\(stats.output)")
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0, "\(daemon.output)")
        #expect(!FileManager.default.fileExists(atPath: lab.controlSocket), "control socket left behind")
    }

    /// Eight reloads, each a real change of the ceiling, while 50 connections a second come in: no SYN
    /// is lost (a lost SYN shows as a handshake over 0.9 s: the client's retransmission after 1 s), none
    /// fails, and every SYN reaches the server clamped to one of the two ceilings.
    @Test func reloadsUnderLoadLoseNoSYN() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let config = TemporaryFile(unusedSuffix: ".toml")
        func write(_ mss: Int) throws {
            try "[defaults]\nmss4 = 1360\n\n[[peer]]\nname = \"clients\"\nmatch = [\"192.0.2.0/24\"]\nmss = \(mss)\n"
                .write(toFile: config.path, atomically: true, encoding: .utf8)
        }
        try write(1300)
        let daemon = try lab.startDaemon(["--config", config.path, "--queue", "0", "--install-rules"])
        let capture = try Capture(lab: lab, namespace: lab.server, interface: "s-m", filter: "tcp dst port 80 and tcp[tcpflags] & tcp-syn != 0")
        let load = try lab.spawn(lab.client, ["python3", Repository.script("labtool"), "rate", Lab.serverIPv4, "80", "50", "8"])
        for round in 0..<8 {
            usleep(400_000)
            try write(round % 2 == 0 ? 1280 : 1300)
            let reload = try lab.mssclamp(["reload", "--socket", lab.controlSocket])
            #expect(reload.status == 0, "reload \(round): \(reload.output) \(reload.error)")
        }
        #expect(load.waitForOutput(timeout: 60) { $0.contains("\"count\"") }, "\(load.output)")
        let last = load.output.split(separator: "\n").last.map(String.init) ?? ""
        let result = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any] ?? [:]
        #expect(result["count"] as? Int == 400 && result["slow"] as? Int == 0 && result["failed"] as? Int == 0, "\(result)")
        #expect(daemon.output.components(separatedBy: "policy reloaded").count - 1 >= 8, "\(daemon.output)")
        let syns = segments(try capture.stop(), flags: "S")
        let other = syns.filter { !$0.contains("mss 1280,") && !$0.contains("mss 1300,") }
        #expect(syns.count >= 400 && other.isEmpty, "\(syns.count) SYNs, not clamped to 1280 or 1300: \(other.prefix(3))")
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0)
    }
}
