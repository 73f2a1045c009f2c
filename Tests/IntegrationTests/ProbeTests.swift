import Foundation
import Testing
import TestSupport

/// `mssclamp probe` in the black-hole lab, from the server towards the client: the middle router cannot
/// forward more than 1400 bytes towards the gateway.
@Suite(
    "probe and calc",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct ProbeTests {
    static func probe(_ lab: Lab, _ target: String, _ extra: [String] = []) throws -> (CommandResult, [String: Any]) {
        let result = try lab.run(lab.server, [BuiltProducts.mssclamp, "probe", target, "--json", "--timeout", "0.5"] + extra)
        let object = (try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]) ?? [:]
        return (result, object)
    }

    @Test(arguments: [Lab.clientIPv4, "2001:db8:c::2"])
    func blackHoleIsReportedAndBisectionStillFindsTheMTU(target: String) throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        let (result, json) = try Self.probe(lab, target, target.contains(":") ? [] : ["--hops"])
        #expect(result.status == 2, "\(result.output) \(result.error)")
        #expect(json["pathMTU"] as? Int == 1400)
        #expect(json["blackHole"] as? Bool == true)
        #expect((json["reports"] as? [Any])?.isEmpty == true)
        #expect(json["mss"] as? Int == (target.contains(":") ? 1340 : 1360))
        if !target.contains(":") {
            // The TTL walk names the middle router as the last hop that sees the big packets.
            let hops = json["hops"] as? [[String: Any]] ?? []
            #expect(hops.first?["answer"] as? String == "time exceeded" && hops.first?["router"] as? String == "203.0.113.1", "\(hops)")
            #expect(hops.last?["answer"] as? String == "silence", "\(hops)")
        }
    }

    @Test(arguments: [Lab.clientIPv4, "2001:db8:c::2"])
    func withoutTheFilterTheRouterReportsTheMTU(target: String) throws {
        let lab = try Lab(icmpFilter: false)
        defer { lab.tearDown() }
        let (result, json) = try Self.probe(lab, target)
        #expect(result.status == 0, "\(result.output) \(result.error)")
        #expect(json["pathMTU"] as? Int == 1400)
        #expect(json["blackHole"] as? Bool == false)
        let reports = json["reports"] as? [[String: Any]] ?? []
        #expect(!reports.isEmpty && reports.allSatisfy { $0["mtu"] as? Int == 1400 }, "\(reports)")
        #expect(reports.first?["router"] as? String == (target.contains(":") ? "2001:db8:5::1" : "203.0.113.1"))
    }

    /// The "too big" trigger of `mss = "auto"`: a learned client is measured on its clean link; then the
    /// link drops whatever is over 1400 bytes (silently, like a black hole), and a router's
    /// "fragmentation needed" about a datagram to the client makes the daemon measure it again at once
    /// (without it: in ten minutes).
    @Test func aTooBigReportMeasuresThePeerAgain() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let config = TemporaryFile(unusedSuffix: ".toml")
        try "[[peer]]\nname = \"vpn\"\nlearn_address = true\nlearn_within = [\"192.0.2.0/24\"]\nmss = \"auto\"\n"
            .write(toFile: config.path, atomically: true, encoding: .utf8)
        let daemon = try lab.startDaemon(["--config", config.path, "--install-rules"])
        let learn = try lab.mssclamp(["learn-address", "vpn", "add", Lab.clientIPv4, "alice", "--strict", "--socket", lab.controlSocket])
        #expect(learn.status == 0, "\(learn.output) \(learn.error)")
        func report() throws -> [String: Any] {
            (try lab.statistics()["autoCeilings"] as? [[String: Any]])?.first { $0["address"] as? String == Lab.clientIPv4 } ?? [:]
        }
        let first = try eventually(timeout: 15) { try report()["pathMTU"] as? Int == 1500 }
        #expect(first, "not measured on the clean link: \((try? report()) ?? [:]) \(daemon.output)")
        let measured = Date()
        try lab.exec(lab.client, ["iptables", "-I", "INPUT", "-m", "length", "--length", "1401:65535", "-j", "DROP"])
        // One sweep per address every 10 s at most: the report comes after that.
        let wait = 10.5 - Date().timeIntervalSince(measured)
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        #expect(try report()["pathMTU"] as? Int == 1500, "measured again before the report")
        let sent = try lab.exec(lab.client, ["python3", Repository.script("labtool"), "send-too-big", Lab.clientIPv4, "192.0.2.1", Lab.clientIPv4, "1400"])
        #expect(sent.contains("\"sent\""), "\(sent)")
        let again = try eventually(timeout: 10) { try report()["pathMTU"] as? Int == 1400 }
        #expect(again, "not measured again after \"too big\": \((try? report()) ?? [:]) \(daemon.output)")
        #expect(try report()["mss4"] as? Int == 1360)
        #expect(daemon.output.contains("\"too big\" (MTU 1400) for \(Lab.clientIPv4): measuring peer \"vpn/alice\" again"), "\(daemon.output)")
        #expect(try lab.handshakeMSS() == 1360)
        #expect(daemon.stop(signal: SIGTERM) == 0)
    }

    @Test func calcGivesTheWorkedExamples() throws {
        let pppoe = try Shell.run([BuiltProducts.mssclamp, "calc", "--mtu", "1500", "--encap", "pppoe", "--json"])
        #expect(pppoe.status == 0 && pppoe.output.contains("\"mss4\" : 1452"), "\(pppoe.output)")
        let icmp = try Shell.run([BuiltProducts.mssclamp, "calc", "--measured-icmp", "1410"])
        #expect(icmp.output.contains("1398"), "\(icmp.output)")
        let table = try Shell.run([BuiltProducts.mssclamp, "calc", "--encap", "pppoe,ipsec-esp-tunnel,nat-t", "--cipher", "aes-cbc-256", "--integrity", "sha1-96"])
        #expect(table.status == 0 && table.output.contains("IPv4: tunnel MTU 1422, MSS 1382"), "\(table.output)")
        let bad = try Shell.run([BuiltProducts.mssclamp, "calc", "--encap", "carrier-pigeon"])
        #expect(bad.status == 65 && bad.error.contains("unknown encapsulation"))
    }
}
