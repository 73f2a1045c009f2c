import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// End-to-end: the real kernel queue, real iptables rules, real TCP connections through the black-hole lab.
@Suite(
    "NFQUEUE data plane in the black-hole lab",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct DataPlaneTests {
    @Test(arguments: [Lab.serverIPv4, Lab.serverIPv6])
    func forwardedSYNAndSYNACKAreClamped(server: String) throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let ipv6 = server.contains(":")
        let daemon = try lab.startDaemon(["--mss", "1360", "--mss6", "1340", "--queue", "0", "--install-rules"])
        let filter = "tcp port 80 and tcp[tcpflags] & tcp-syn != 0"
        let serverSide = try Capture(lab: lab, namespace: lab.server, interface: "s-m", filter: ipv6 ? "ip6 and tcp port 80" : filter)
        let clientSide = try Capture(lab: lab, namespace: lab.client, interface: "c-g", filter: ipv6 ? "ip6 and tcp port 80" : filter)

        let mss = try lab.serverMSS(from: lab.client, host: server)
        let ceiling = ipv6 ? 1340 : 1360
        // TCP_MAXSEG excludes the 12 bytes of the timestamp option when it is in use.
        #expect(mss.maxseg == ceiling - (mss.timestamps ? 12 : 0), "server-side TCP_MAXSEG")

        let atServer = try serverSide.stop()
        let atClient = try clientSide.stop()
        let syns = segments(atServer, flags: "S")
        let synAcks = segments(atClient, flags: "S.")
        #expect(!syns.isEmpty && syns.allSatisfy { $0.contains("mss \(ceiling),") }, "\(atServer)")
        #expect(!synAcks.isEmpty && synAcks.allSatisfy { $0.contains("mss \(ceiling),") }, "\(atClient)")
        // The rewritten SYN leaves the gateway with a complete, correct checksum: tcpdump -vv verifies
        // it and says "(correct)"; a line without a verified checksum fails too.
        #expect(syns.allSatisfy { $0.contains("(correct)") && !$0.contains("incorrect") }, "\(syns)")

        let download = try lab.download(from: lab.client, host: server, timeout: 20)
        #expect(download.bytes == 2 * 1024 * 1024 && download.status == 0)
        #expect(try lab.checksumErrors(lab.server) == 0)
        #expect(try lab.checksumErrors(lab.client) == 0)

        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0, "\(daemon.output)")
        #expect(daemon.output.contains("rules removed"))
        let clamped = daemon.output.split(separator: "\n").first { $0.contains("  clamped") }
        #expect(clamped.map { !$0.hasSuffix(" 0") } == true, "\(daemon.output)")
        let rules = try lab.exec(lab.gateway, ["iptables-save", "-t", "mangle"]) + (try lab.exec(lab.gateway, ["ip6tables-save", "-t", "mangle"]))
        #expect(!rules.contains("MSSCLAMP"), "rules left behind: \(rules)")
    }

    /// A SYN without an MSS option through the live queue: the daemon grows the packet by 4 bytes in
    /// place and inserts the kernel's value (IPv4 536, IPv6 1220: below both ceilings, what the receiver
    /// assumes anyway), ahead of the options that were there; lengths and checksums stay right.
    @Test func aSYNWithoutMSSGetsOneInsertedThroughTheQueue() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1360", "--mss6", "1340", "--queue", "0", "--install-rules"])
        let capture = try Capture(lab: lab, namespace: lab.server, interface: "s-m", filter: "tcp port 80")
        let sent: [(source: String, destination: String, inserted: String)] = [
            (Lab.clientIPv4, Lab.serverIPv4, "02040218"),  // MSS 536
            ("2001:db8:c::2", Lab.serverIPv6, "020404c4"),  // MSS 1220
        ]
        for syn in sent {
            // NOP, NOP, SACK permitted: no MSS.
            let result = try lab.exec(lab.client, ["python3", Repository.script("labtool"), "send-syn", syn.source, syn.destination, "80", "01010402"])
            #expect(result.contains("\"sent\""), "\(result)")
        }
        _ = try capture.stop(until: { segments($0, flags: "S").count >= sent.count })
        let lines = try Shell.check(["python3", Repository.script("labtool"), "syn-check", capture.file.path, "80"]).split(separator: "\n")
        let seen = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(seen.count == sent.count, "SYNs at the server: \(lines)")
        for (syn, arrived) in zip(sent, seen) {
            #expect(arrived["options"] as? String == syn.inserted + "01010402", "\(syn.destination): \(arrived)")
            #expect(arrived["tcp_length"] as? Int == 28, "grown by one word: \(arrived)")
            #expect(arrived["checksum_ok"] as? Bool == true && arrived["ip_ok"] as? Bool == true, "\(arrived)")
        }
        #expect(try lab.checksumErrors(lab.server) == 0)
        #expect(try eventually(timeout: 5) { (try lab.statistics()["outcomes"] as? [String: Int])?["inserted"] == 2 }, "\((try? lab.statistics()) ?? [:])")
        #expect(try lab.netClamped() == 0, "the daemon, not the net, handled them")
        daemon.stop(signal: SIGTERM)
    }

    /// `tiny_mss`: SYNs whose smallest MSS is below 536 (IPv4) or 1220 (IPv6) pass unchanged (mssclamp never
    /// raises an MSS) and are counted, per peer, in `stats --json` and in the metrics. SYNs at 536 and 1220
    /// exactly are not tiny.
    @Test func tinyMSSSYNsAreCountedPerPeerAndExported() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon([
            "--mss", "1360", "--mss6", "1340", "--queue", "0", "--install-rules", "--metrics", "127.0.0.1:9471",
        ])
        let sent: [(source: String, destination: String, options: String)] = [
            (Lab.clientIPv4, Lab.serverIPv4, "020401f4"),  // 500: tiny
            (Lab.clientIPv4, Lab.serverIPv4, "02040218"),  // 536: not tiny
            ("2001:db8:c::2", Lab.serverIPv6, "020404b0"),  // 1200: tiny
            ("2001:db8:c::2", Lab.serverIPv6, "020404c4"),  // 1220: not tiny
        ]
        for syn in sent {
            let result = try lab.exec(lab.client, ["python3", Repository.script("labtool"), "send-syn", syn.source, syn.destination, "80", syn.options])
            #expect(result.contains("\"sent\""), "\(result)")
        }
        func tiny() throws -> Int? {
            let peers = try lab.statistics()["peers"] as? [String: [String: Int]]
            return peers?["(default)"]?["tinyMSS"]
        }
        #expect(try eventually(timeout: 5) { try tiny() == 2 }, "\((try? lab.statistics()) ?? [:])")
        #expect(try lab.statistics()["tinyMSS"] as? Int == 2)
        #expect((try lab.statistics()["outcomes"] as? [String: Int])?["already_low"] == 4, "never raised")
        let metrics = try lab.exec(lab.gateway, ["curl", "-s", "--max-time", "5", "http://127.0.0.1:9471/metrics"])
        #expect(metrics.contains("mssclamp_tiny_mss_total 2"), "\(metrics)")
        #expect(metrics.contains("mssclamp_peer_packets_total{peer=\"(default)\",outcome=\"tiny_mss\"} 2"), "\(metrics)")
        daemon.stop(signal: SIGTERM)
    }

    /// A connection opened by the gateway itself goes through OUTPUT; its SYN still carries the offload
    /// seed as checksum (NFQA_SKB_CSUMNOTREADY), and the modified SYN must leave complete. The gateway's
    /// own SYN already says 1360 (its route has MTU 1400), so the ceiling here is 1300.
    @Test func locallyOriginatedConnectionThroughOutput() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules", "--hooks", "output"])
        let capture = try Capture(lab: lab, namespace: lab.server, interface: "s-m", filter: "tcp port 80")
        let mss = try lab.serverMSS(from: lab.gateway, host: Lab.serverIPv4)
        #expect(mss.maxseg == 1300 - (mss.timestamps ? 12 : 0))
        let dump = try capture.stop()
        let syns = segments(dump, flags: "S")
        #expect(syns.count == 1 && syns[0].contains("mss 1300,") && syns[0].contains("(correct)"), "\(dump)")
        #expect(try lab.checksumErrors(lab.server) == 0)
        daemon.stop(signal: SIGTERM)
        let notReady = daemon.output.split(separator: "\n").first { $0.contains("csum_not_ready") }
        #expect(notReady.map { !$0.contains(" 0  (") } == true, "the OUTPUT SYN was not checksum-not-ready: \(daemon.output)")
    }

    @Test func blackHoleDownloadFailsWithoutAndSucceedsWith() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        for server in [Lab.serverIPv4, Lab.serverIPv6] {
            let stalled = try lab.download(from: lab.client, host: server, timeout: 4)
            #expect(stalled.status == 28, "curl should time out in the black hole (\(server))")
            #expect(stalled.bytes < 2 * 1024 * 1024)
        }
        let daemon = try lab.startDaemon(["--mss", "1360", "--queue", "0", "--install-rules"])
        for server in [Lab.serverIPv4, Lab.serverIPv6] {
            let done = try lab.download(from: lab.client, host: server, timeout: 20)
            #expect(done.status == 0 && done.bytes == 2 * 1024 * 1024, "\(server)")
        }
        daemon.stop(signal: SIGTERM)
    }

    @Test func burstLargerThanTheQueueWithFailOpenLosesNothing() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1360", "--queue", "0", "--install-rules", "--fail-open", "--queue-maxlen", "4", "--batch", "1"])
        let output = try lab.exec(
            lab.client, ["python3", Repository.script("labtool"), "burst", "http://\(Lab.serverIPv4)/mss", "300"], timeout: 120)
        let result = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        #expect(result?["ok"] as? Int == 300, "\(output)")
        #expect(result?["failed"] as? Int == 0, "\(output)")
        daemon.stop(signal: SIGTERM)
    }

    @Test func queueAlreadyBoundIsUnavailable() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        let first = try lab.startDaemon(["--mss", "1360", "--queue", "5"])
        // Another instance on the same queue (scoped: one unscoped instance per host): the kernel refuses the bind.
        let second = try lab.run(
            lab.gateway, [BuiltProducts.mssclamp, "run", "--mss", "1360", "--queue", "5", "--instance", "other", "--interface", "g-c"], timeout: 20)
        #expect(second.status == 69)
        #expect(second.error.contains("queue 5 is already bound by another process"), "\(second.error)")
        // The same instance (the queue names it): refused before it binds anything.
        let third = try lab.run(lab.gateway, [BuiltProducts.mssclamp, "run", "--mss", "1360", "--queue", "5"], timeout: 20)
        #expect(third.status == 69)
        #expect(third.error.contains("instance 5 already runs in this network namespace"), "\(third.error)")
        #expect(first.isRunning)
        first.stop(signal: SIGTERM)
    }

    @Test(.enabled(if: Shell.has("setpriv"), "setpriv (util-linux) is not installed"))
    func withoutPrivilegeIsUnavailable() throws {
        let result = try Shell.run([
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
            BuiltProducts.mssclamp, "run", "--mss", "1360", "--queue", "0",
        ])
        #expect(result.status == 69)
        #expect(result.error.contains("needs root or CAP_NET_ADMIN"), "\(result.error)")
    }
}
