import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 23, item 4: the triggers of `mss = "auto"` proven with a real WireGuard server (wireguard-go).
/// A measured peer is measured again every ten minutes; these tests give it well under a minute, so only
/// the trigger under test can make the new value appear. Road warrior 1 starts on a clean 1500-byte link
/// (measured 1380: its tunnel interface's limit); then its path shrinks to 1400 bytes, where the largest
/// MSS that works is 1288 (WireGuardPeerTests bisects the same link; WireGuard pads to 16 bytes).
@Suite(
    "The triggers of mss = \"auto\", with real WireGuard",
    .serialized,
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct AutoTriggerTests {
    static let clean = 1380
    static let shrunk = 1288

    /// A lab with one road warrior, the daemon measuring it; returns once its first measure is in.
    static func start(_ lab: TunnelLab, socket: String) throws -> BackgroundProcess {
        let file = try TemporaryFile(suffix: ".toml")
        try "[[peer]]\nname = \"roadwarriors\"\nwireguard = \"\(lab.gatewayInterface)\"\nmss = \"auto\"\n"
            .write(toFile: file.path, atomically: true, encoding: .utf8)
        let daemon = try lab.startDaemon(["--config", file.path, "--install-rules", "--control-socket", socket])
        let first = try eventually(timeout: 20) {
            WireGuardPeerTests.measured(try WireGuardPeerTests.autoCeilings(socket: socket), address: "10.9.0.2") == clean
        }
        #expect(first, "road warrior 1 was not measured at \(clean): \(daemon.output)")
        return daemon
    }

    static func measured(_ socket: String) -> Int? {
        (try? WireGuardPeerTests.autoCeilings(socket: socket)).flatMap { WireGuardPeerTests.measured($0, address: "10.9.0.2") }
    }

    /// The path to the client's endpoint shrinks and a router on it says so: an ICMP "fragmentation
    /// needed" about a tunnel datagram reaches the gateway, and the daemon measures the peer again. The
    /// endpoint does not change, so no roam can be what triggered it.
    @Test func tooBigAboutTheEndpointRemeasures() throws {
        let lab = try TunnelLab(kind: "wireguard", links: [1500])
        defer { lab.tearDown() }
        let socket = Lab.privateSocket(UniqueName.make("mcttb"))
        defer { Lab.removePrivateSocket(socket) }
        let daemon = try Self.start(lab, socket: socket)
        try lab.lab("link-mtu", ["1", "1400"])
        try lab.lab("too-big", ["on"])
        // Full-size tunnel datagrams toward the client (DF set: wireguard-go's socket does path MTU
        // discovery) now meet the 1400-byte link: the middle router answers "fragmentation needed".
        // The download itself may stall; only the datagrams matter.
        _ = try lab.download(1)
        let started = Date()
        let remeasured = try eventually(timeout: 40) { Self.measured(socket) == Self.shrunk }
        print("\"too big\": remeasured at \(Self.measured(socket) ?? 0) \(String(format: "%.1f", Date().timeIntervalSince(started))) s after the download")
        #expect(remeasured, "not remeasured at \(Self.shrunk): \(Self.measured(socket) ?? 0); \(daemon.output)")
        #expect(daemon.output.contains("\"too big\" (MTU 1400)"), "\(daemon.output)")
        #expect(try lab.download(1), "the download at the new ceiling did not complete: \(daemon.output)")
        #expect(try lab.serverMSS(1) == Self.shrunk)
        #expect(daemon.stop() == 0)
    }

    /// The client moves to another outer address on a smaller link, and the middle router stays silent
    /// (no "too big"): the new endpoint alone, read from WireGuard, makes the daemon measure again.
    @Test func roamRemeasures() throws {
        let lab = try TunnelLab(kind: "wireguard", links: [1500])
        defer { lab.tearDown() }
        let socket = Lab.privateSocket(UniqueName.make("mctro"))
        defer { Lab.removePrivateSocket(socket) }
        let daemon = try Self.start(lab, socket: socket)
        let roam = try lab.lab("roam", ["1", "--mtu", "1400"]).output
        let started = Date()
        let remeasured = try eventually(timeout: 40) { Self.measured(socket) == Self.shrunk }
        print("roam (\(roam.trimmingCharacters(in: .whitespacesAndNewlines))): remeasured at \(Self.measured(socket) ?? 0) \(String(format: "%.1f", Date().timeIntervalSince(started))) s later")
        #expect(remeasured, "not remeasured at \(Self.shrunk) after the roam: \(Self.measured(socket) ?? 0); \(daemon.output)")
        #expect(!daemon.output.contains("\"too big\""), "a \"too big\" reached the daemon: \(daemon.output)")
        #expect(try lab.download(1), "the download at the new ceiling did not complete: \(daemon.output)")
        #expect(try lab.serverMSS(1) == Self.shrunk)
        #expect(daemon.stop() == 0)
    }
}
