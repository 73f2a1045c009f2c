import Foundation
import Testing
import TestSupport

/// `mssclamp lab` (issue 24): the black-hole lab and the stall-then-fix demo from the binary alone, with
/// no script and no toolchain.
@Suite(
    "mssclamp lab, the command",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct LabCommandTests {
    static func namespaces(_ prefix: String) throws -> [String] {
        try Shell.check(["ip", "netns", "list"]).split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0.hasPrefix(prefix) }
    }

    @Test func theDemoStallsWithoutAndCompletesWithForBothFamilies() throws {
        let demo = try Shell.run([BuiltProducts.mssclamp, "lab", "demo"], timeout: 180)
        print(demo.output)
        #expect(demo.succeeded, "\(demo)")
        for family in ["IPv4", "IPv6"] {
            #expect(demo.output.contains("\(family) without mssclamp: STALLED"), "\(demo.output)")
            #expect(demo.output.contains("\(family) with mssclamp: completed: 2097152 bytes"), "\(demo.output)")
        }
        // The ceilings are what the 1400-byte link carries; the server sends 12 bytes less (timestamps).
        #expect(demo.output.contains("(MSS at the server 1348)") && demo.output.contains("(MSS at the server 1328)"), "\(demo.output)")
        #expect(demo.output.contains("the demo made its point"), "\(demo.output)")
        let pid = demo.output.split(separator: " ").first { $0.hasPrefix("msdemo-") }.map { $0.split(separator: "-")[1] }
        let left = try Self.namespaces("msdemo-\(pid ?? "?")-")
        #expect(pid != nil && left.isEmpty, "left behind: \(left)")
    }

    /// `--encap` shapes the narrow link with the same overhead rule as `mssclamp calc`.
    @Test func upShapesTheLinkLikeATunnelAndDownRemovesIt() throws {
        let name = UniqueName.make("mctlab")
        defer { _ = try? Shell.run([BuiltProducts.mssclamp, "lab", "down", "--name", name]) }
        let calc = try Shell.check([BuiltProducts.mssclamp, "calc", "--mtu", "1500", "--encap", "wireguard", "--json"])
        let computed = try #require(try JSONSerialization.jsonObject(with: Data(calc.utf8)) as? [String: Any])
        let expected = min(computed["mtu4"] as? Int ?? 0, computed["mtu6"] as? Int ?? 0)
        let up = try Shell.run([BuiltProducts.mssclamp, "lab", "up", "--name", name, "--link-mtu", "1500", "--encap", "wireguard"])
        #expect(up.succeeded && up.output.contains("narrow link MTU \(expected)"), "\(up)")
        let link = try Shell.check(["ip", "netns", "exec", "\(name)-gw", "ip", "link", "show", "g-m"])
        #expect(link.contains("mtu \(expected) "), "\(link)")
        #expect(try Self.namespaces("\(name)-").count == 4)
        let down = try Shell.run([BuiltProducts.mssclamp, "lab", "down", "--name", name])
        #expect(down.succeeded, "\(down)")
        #expect(try Self.namespaces("\(name)-").isEmpty)
    }
}
