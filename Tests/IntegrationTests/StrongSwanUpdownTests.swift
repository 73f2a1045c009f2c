import Foundation
import Testing
import TestSupport

/// Issue 12: the strongSwan updown hook (packaging/mssclamp-updown) against a running daemon. There is no
/// ESP on this machine, so charon is played by the environment it gives the script: PLUTO_VERB,
/// PLUTO_CONNECTION, PLUTO_UNIQUEID, PLUTO_PEER_SOURCEIP / PLUTO_PEER_CLIENT.
@Suite(
    "strongSwan updown hook",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct StrongSwanUpdownTests {
    @Test func anSAComesAndGoesAsALivePeer() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        let daemon = try lab.startDaemon(["--mss", "1360"])
        let script = Repository.root.appendingPathComponent("packaging/mssclamp-updown").path
        func hook(_ verb: String, _ variables: [String], _ arguments: [String] = []) throws -> CommandResult {
            try Shell.run(
                ["env", "MSSCLAMP=\(BuiltProducts.mssclamp)", "MSSCLAMP_SOCKET=\(lab.controlSocket)", "PLUTO_VERB=\(verb)",
                 "PLUTO_CONNECTION=rw", "PLUTO_UNIQUEID=7"] + variables + [script] + arguments)
        }
        func peers() throws -> [[String: Any]] {
            let output = try Shell.check([BuiltProducts.mssclamp, "peer", "list", "--json", "--socket", lab.controlSocket])
            return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
        }

        // A road warrior with a virtual IP, the ceiling computed for ESP + NAT-T with AES-GCM.
        let up = try hook("up-client", ["PLUTO_PEER_SOURCEIP=10.10.0.5", "PLUTO_PEER_CLIENT=0.0.0.0/0"],
                          ["--link-mtu", "1500", "--encap", "ipsec-esp-tunnel,nat-t", "--cipher", "aes-gcm-256"])
        #expect(up.succeeded, "\(up)")
        let added = try peers()
        #expect(added.count == 1 && added[0]["name"] as? String == "ipsec-rw-7", "\(added)\n\(up.error)")
        #expect(added.first?["match"] as? [String] == ["10.10.0.5/32"])
        #expect(added.first?["mss4"] as? Int == 1398)
        // The SA is rekeyed (up again): replaced, not refused.
        #expect(try hook("up-client", ["PLUTO_PEER_SOURCEIP=10.10.0.5"], ["--mss", "1300"]).succeeded)
        #expect(try peers().first?["mss4"] as? Int == 1300)
        // Down: gone. A site-to-site SA without a virtual IP uses the traffic selector.
        #expect(try hook("down-client", []).succeeded)
        #expect(try peers().isEmpty)
        #expect(try hook("up-client-v6", ["PLUTO_PEER_CLIENT=2001:db8:77::/48"]).succeeded)
        #expect(try peers().first?["match"] as? [String] == ["2001:db8:77::/48"])
        // A daemon that is not there does not fail the SA.
        #expect(daemon.stop() == 0)
        let orphan = try hook("up-client", ["PLUTO_PEER_SOURCEIP=10.10.0.6"])
        #expect(orphan.succeeded && orphan.error.contains("not added"), "\(orphan)")
    }
}
