import Foundation
import TestSupport
import Testing

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
