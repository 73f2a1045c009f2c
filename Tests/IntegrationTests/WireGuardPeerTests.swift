import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 12's acceptance: a real WireGuard server (wireguard-go) with two road warriors and the policy
/// below, nothing else. One road warrior has a clean path, the other a 1400-byte link that drops
/// fragments and ICMP; the second is added with `wg set` after mssclamp started. Both downloads complete,
/// and each peer's MSS at the server is the largest that works, or at most 40 bytes less.
@Suite(
    "WireGuard peers with mss = \"auto\"",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct WireGuardPeerTests {
    static let policy = """
        [[peer]]
        name = "roadwarriors"
        wireguard = "wg0"
        mss = "auto"

        """

    static func autoCeilings(socket: String) throws -> [[String: Any]] {
        let output = try Shell.check([BuiltProducts.mssclamp, "stats", "--json", "--socket", socket])
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        return object?["autoCeilings"] as? [[String: Any]] ?? []
    }

    static func measured(_ reports: [[String: Any]], address: String) -> Int? {
        guard let report = reports.first(where: { $0["address"] as? String == address }), report["state"] as? String == "measured" else {
            return nil
        }
        return report["mss4"] as? Int
    }

    @Test func roadWarriorsGetTheirMeasuredCeilings() throws {
        // The one test that uses the name wg0 (the policy says so): wireguard-go's socket is
        // /var/run/wireguard/wg0.sock, shared by every namespace.
        let lab = try TunnelLab(kind: "wireguard", links: [1500, 1400], options: ["--gw-interface", "wg0", "--later", "2"])
        defer { lab.tearDown() }
        let file = try TemporaryFile(suffix: ".toml")
        try Self.policy.write(toFile: file.path, atomically: true, encoding: .utf8)
        let socketPath = Lab.privateSocket(UniqueName.make("mctwg"))
        defer { Lab.removePrivateSocket(socketPath) }
        let daemon = try lab.startDaemon(["--config", file.path, "--install-rules", "--control-socket", socketPath])

        // The first road warrior was there before the daemon: measured once it has handshaken.
        let clean = try eventually(timeout: 15) { Self.measured(try Self.autoCeilings(socket: socketPath), address: "10.9.0.2") != nil }
        #expect(clean, "road warrior 1 was not measured: \(daemon.output)")

        // The second appears with `wg set` now. It handshakes when its own retry timer fires (WireGuard
        // retries every 5 s), and within 10 s of that handshake its ceiling is measured.
        try lab.addPeer(2)
        let added = Date()
        let handshaken = try eventually(timeout: 20) {
            let times = try lab.run(lab.gateway, ["wg", "show", "wg0", "latest-handshakes"]).output
            return times.split(separator: "\n").filter { $0.split(separator: "\t").last.map { $0 != "0" } ?? false }.count == 2
        }
        #expect(handshaken, "road warrior 2 did not handshake within 20 s")
        let handshake = Date()
        let second = try eventually(timeout: 10) { Self.measured(try Self.autoCeilings(socket: socketPath), address: "10.9.0.3") != nil }
        let seconds = Date().timeIntervalSince(handshake)
        #expect(second, "road warrior 2 was not measured within 10 s of its handshake: \(daemon.output)")
        print("road warrior 2 handshook \(String(format: "%.1f", handshake.timeIntervalSince(added))) s after `wg set`, measured \(String(format: "%.1f", seconds)) s after that")

        let reports = try Self.autoCeilings(socket: socketPath)
        let ceilings = [1: Self.measured(reports, address: "10.9.0.2"), 2: Self.measured(reports, address: "10.9.0.3")]
        var seen: [Int: Int] = [:]
        for k in [1, 2] {
            #expect(try lab.download(k), "road warrior \(k): the 2 MB download did not complete: \(daemon.output)")
            seen[k] = try lab.serverMSS(k)
        }
        let list = try Shell.check([BuiltProducts.mssclamp, "peer", "list", "--socket", socketPath])
        #expect(list.components(separatedBy: "roadwarriors/").count - 1 == 2, "\(list)")
        print(list)
        #expect(daemon.stop() == 0)
        _ = try lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "remove"])

        // Without mssclamp: the largest MSS that works, by bisection. Road warrior 1's tunnel interface
        // (MTU 1420) is its limit, 1380; road warrior 2's 1400-byte link is less.
        let largest = [
            1: try lab.largest(1, low: 1300, high: 1380),
            2: try lab.largest(2, low: 1200, high: 1380),
        ]
        for k in [1, 2] {
            guard let best = largest[k]?.largest, let mss = seen[k] else {
                Issue.record("road warrior \(k): no working MSS found [\(largest[k]?.tries ?? "")]")
                continue
            }
            print("road warrior \(k): MSS at the server \(mss) (auto ceiling \(ceilings[k].flatMap { $0 }.map(String.init) ?? "?")), largest that works \(best) [\(largest[k]?.tries ?? "")]")
            #expect(mss <= best, "road warrior \(k): MSS \(mss) is above what works, \(best)")
            #expect(best - mss <= 40, "road warrior \(k): MSS \(mss) is more than 40 below what works, \(best)")
        }
        // The clean path is not clamped needlessly, the small link is.
        #expect(seen[1] == 1380, "\(seen)")
        #expect((seen[2] ?? 0) < 1380, "\(seen)")
    }
}
