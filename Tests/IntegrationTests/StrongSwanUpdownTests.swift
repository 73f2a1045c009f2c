import Foundation
import Testing
import TestSupport

/// Issue 12, revised in issue 22: the strongSwan updown hook (packaging/mssclamp-updown) against a running
/// daemon, with the environment charon's updown plugin gives it: only PATH and PLUTO_*, one call per pair
/// of traffic selectors (PLUTO_PEER_CLIENT is that call's remote selector). The same hook under a real
/// charon is in StrongSwanLabTests.
@Suite(
    "strongSwan updown hook",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct StrongSwanUpdownTests {
    @Test func anSAComesAndGoesAsALivePeer() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        let daemon = try lab.startDaemon(["--mss", "1360"])
        let script = Repository.root.appendingPathComponent("packaging/mssclamp-updown").path
        // charon's environment: no MSSCLAMP_SOCKET; the socket comes with the command line.
        func hook(_ verb: String, _ variables: [String], _ arguments: [String] = [], uniqueID: Int = 7) throws -> CommandResult {
            try Shell.run(
                ["env", "-i", "PATH=/usr/bin:/bin", "MSSCLAMP=\(BuiltProducts.mssclamp)", "PLUTO_VERB=\(verb)",
                 "PLUTO_CONNECTION=net", "PLUTO_UNIQUEID=\(uniqueID)"] + variables + [script, "--socket", lab.controlSocket]
                    + arguments)
        }
        func peers() throws -> [[String: Any]] {
            let output = try Shell.check([BuiltProducts.mssclamp, "peer", "list", "--json", "--socket", lab.controlSocket])
            return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
        }

        // A road warrior with a virtual IP, the ceiling computed for ESP + NAT-T with AES-GCM.
        let up = try hook("up-client", ["PLUTO_PEER_SOURCEIP=10.10.0.5", "PLUTO_PEER_CLIENT=10.10.0.5/32"],
                          ["--connection", "rw", "--link-mtu", "1500", "--encap", "ipsec-esp-tunnel,nat-t", "--cipher", "aes-gcm-256"])
        #expect(up.succeeded, "\(up)")
        let added = try peers()
        #expect(added.count == 1 && added[0]["name"] as? String == "ipsec-rw.net@10.10.0.5_32", "\(added)\n\(up.error)")
        #expect(added.first?["match"] as? [String] == ["10.10.0.5/32"])
        #expect(added.first?["mss4"] as? Int == 1398)
        // The IKE_SA is rekeyed (a new unique id, no updown), then the SA comes up again: replaced, not refused.
        #expect(try hook("up-client", ["PLUTO_PEER_CLIENT=10.10.0.5/32"], ["--connection", "rw", "--mss", "1300"], uniqueID: 8).succeeded)
        #expect(try peers().map { $0["mss4"] as? Int } == [1300])
        // Down, with the new unique id: gone, nothing left behind.
        #expect(try hook("down-client", ["PLUTO_PEER_CLIENT=10.10.0.5/32"], ["--connection", "rw"], uniqueID: 8).succeeded)
        #expect(try peers().isEmpty)
        // The IPv6 virtual IP of the same client is its own call, its own peer; a site's subnet too.
        #expect(try hook("up-client-v6", ["PLUTO_PEER_CLIENT=2001:db8:77::5/128"]).succeeded)
        #expect(try hook("up-client", ["PLUTO_PEER_CLIENT=198.51.100.0/28"]).succeeded)
        #expect(try peers().compactMap { $0["match"] as? [String] }.flatMap { $0 }.sorted() == ["198.51.100.0/28", "2001:db8:77::5/128"])
        #expect(try hook("down-client-v6", ["PLUTO_PEER_CLIENT=2001:db8:77::5/128"]).succeeded)
        #expect(try peers().compactMap { $0["name"] as? String } == ["ipsec-net@198.51.100.0_28"])
        // A selector that covers everything is no peer.
        let everything = try hook("up-client", ["PLUTO_PEER_CLIENT=0.0.0.0/0"])
        #expect(everything.succeeded && everything.error.contains("covers every address"), "\(everything)")
        #expect(try peers().count == 1)
        // A daemon that is not there does not fail the SA.
        #expect(daemon.stop() == 0)
        let orphan = try hook("up-client", ["PLUTO_PEER_CLIENT=10.10.0.6/32"])
        #expect(orphan.succeeded && orphan.error.contains("not added"), "\(orphan)")
    }
}
