import Foundation
import Testing
import TestSupport

/// Issue 12: `mssclamp calc` checked against real tunnels. For each tunnel and link MTU, bisection finds
/// the largest MSS whose 2 MB download completes through a path that drops fragments and ICMP "too big";
/// calc must print exactly that, or at most 4 bytes less. One tunnel at a time (each runs five
/// bisections at once, one per link).
@Suite(
    "Calculator against real tunnels", .serialized,
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct TunnelSweepTests {
    static let links = [1280, 1400, 1420, 1492, 1500]

    /// tunnellab's kind, and the calc options that describe it. WireGuard's interfaces get MTU 1500 here,
    /// so the path, not the interface, is the limit (calc is told so with --tunnel-mtu).
    static let tunnels: [(kind: String, calc: [String], lab: [String])] = [
        ("wireguard", ["--encap", "wireguard", "--tunnel-mtu", "1500"], ["--tunnel-mtu", "1500"]),
        ("openvpn-gcm", ["--encap", "openvpn-udp", "--cipher", "aes-gcm-256"], []),
        ("openvpn-cbc", ["--encap", "openvpn-udp", "--cipher", "aes-cbc-256", "--integrity", "sha256-128"], []),
    ]

    static func calc(_ options: [String], link: Int) throws -> Int {
        let output = try Shell.check([BuiltProducts.mssclamp, "calc", "--mtu", String(link), "--json"] + options)
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], let mss = object["mss4"] as? Int else {
            throw CommandFailed(command: ["mssclamp", "calc"], result: CommandResult(status: 0, output: output, error: "no mss4"))
        }
        return mss
    }

    @Test(arguments: [0, 1, 2])
    func calcPrintsTheLargestMSSThatWorks(index: Int) throws {
        let tunnel = Self.tunnels[index]
        let lab = try TunnelLab(kind: tunnel.kind, links: Self.links, options: tunnel.lab)
        defer { lab.tearDown() }
        let expected = try Self.links.map { try Self.calc(tunnel.calc, link: $0) }
        // The first download through a fresh tunnel waits for its handshake; it must not count.
        for k in 1...Self.links.count { _ = try lab.download(k) }

        // Five bisections at once, one per client (each has its own link).
        let results = Locked<[Int: (Int?, String)]>([:])
        let failures = Locked<[String]>([])
        let group = DispatchGroup()
        for (offset, mss) in expected.enumerated() {
            let k = offset + 1
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let found = try lab.largest(k, low: mss - 24, high: mss + 24)
                    results.update { $0[k] = found }
                } catch {
                    failures.update { $0.append("client \(k): \(error)") }
                }
            }
        }
        #expect(group.wait(timeout: .now() + 900) == .success, "the bisections did not finish")
        #expect(failures.value.isEmpty, "\(failures.value)")
        for (offset, link) in Self.links.enumerated() {
            let calc = expected[offset]
            guard let (largest, tries) = results.value[offset + 1] else { continue }
            print("\(tunnel.kind) link \(link): largest working MSS \(largest.map(String.init) ?? "none"), calc \(calc)  [\(tries)]")
            guard let largest else {
                Issue.record("\(tunnel.kind) link \(link): not even MSS \(calc - 24) works [\(tries)]")
                continue
            }
            #expect(calc <= largest, "\(tunnel.kind) link \(link): calc \(calc) is above the largest that works, \(largest)")
            #expect(largest - calc <= 4, "\(tunnel.kind) link \(link): calc \(calc) wastes \(largest - calc) bytes (largest \(largest))")
        }
    }
}

/// A value shared by the threads of one test.
final class Locked<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()

    init(_ value: Value) { stored = value }

    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    func update(_ change: (inout Value) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        change(&stored)
    }
}
