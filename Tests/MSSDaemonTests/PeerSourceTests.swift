import Foundation
import Logging
import MSSPolicy
import Testing

@testable import MSSDaemon

/// Issue 12: how WireGuard peers and learned addresses become policy peers, and what an auto peer gets
/// before and after its measurement (no network needed: the sockets are absent).
@Suite("Peer sources")
struct PeerSourceTests {
    static func manager(_ text: String) throws -> PolicyManager {
        try PolicyManager(configuration: PolicyConfiguration.parse(text, file: "t.toml"), path: nil, interfaceIndex: { _ in 1 })
    }

    @Test func wgShowOutputIsRead() {
        let peers = PeerSources.parse(
            allowedIPs: "KEY1=\t10.9.0.2/32 fd00:9::2/128\nKEY2=\t(none)\nKEY3=\t10.9.1.0/24\n",
            endpoints: "KEY1=\t198.51.100.7:51820\nKEY2=\t(none)\nKEY3=\t[2001:db8::3]:4500\n")
        #expect(peers["KEY1="]?.allowed.map(\.description) == ["10.9.0.2/32", "fd00:9::2/128"])
        #expect(peers["KEY1="]?.endpoint == "198.51.100.7:51820")
        #expect(peers["KEY2="]?.allowed == [] && peers["KEY2="]?.endpoint == nil)
        #expect(AutoCeilings.host(peers["KEY3="]?.endpoint) == "2001:db8::3")
        #expect(PeerSources.probeAddress(peers["KEY3="]!.allowed) == "10.9.1.1")
    }

    @Test func learnedAddressesFollowAddUpdateAndDelete() throws {
        let policy = try Self.manager("[[peer]]\nname = \"vpn\"\nlearn_address = true\nmss = 1300\n")
        let sources = PeerSources(
            policy: policy, auto: AutoCeilings(sockets: nil, unavailable: "test", logger: Logger(label: "t")), logger: Logger(label: "t"),
            changed: { _ in })
        #expect(throws: Never.self) { try sources.learn(template: "vpn", operation: "add", address: "10.9.0.2", commonName: "alice").get() }
        _ = sources.learn(template: "vpn", operation: "add", address: "10.9.0.3", commonName: "bob")
        #expect(policy.sourcedPeers.map(\.name).sorted() == ["vpn/alice", "vpn/bob"])
        // OpenVPN gives an address to another client: it moves.
        _ = sources.learn(template: "vpn", operation: "update", address: "10.9.0.3", commonName: "alice")
        #expect(policy.sourcedPeers.map(\.name) == ["vpn/alice"])
        #expect(policy.sourcedPeers[0].match.map(\.description).sorted() == ["10.9.0.2/32", "10.9.0.3/32"])
        _ = sources.learn(template: "vpn", operation: "delete", address: "10.9.0.2", commonName: nil)
        _ = sources.learn(template: "vpn", operation: "delete", address: "10.9.0.3", commonName: nil)
        #expect(policy.sourcedPeers.isEmpty)
        // Unknown templates are refused; TAP mode's MAC addresses are ignored.
        #expect(throws: PolicyError.self) { try sources.learn(template: "nope", operation: "add", address: "10.9.0.2", commonName: "x").get() }
        #expect(try sources.learn(template: "vpn", operation: "add", address: "52:54:00:12:34:56", commonName: "x").get().hasPrefix("ignored"))
    }

    /// Issue 19: a probe is never aimed at the host itself, special-use space, or outside the pool, and
    /// the cap and the trusted role bound what is learned.
    @Test func probesAndLearnsStayInsideTheirBounds() throws {
        let template = PeerTemplate(
            name: "clients", source: .learnAddress, ceiling: .auto(fallback: nil), file: "t.toml", line: 1)
        var bounded = template
        bounded.learning = LearnBounds(within: [try IPPrefix(parsing: "10.8.0.0/24")], maximum: 2)
        let local = [try IPPrefix(parsing: "10.8.0.1")]
        #expect(PeerSources.probeRefusal("10.8.0.42", template: bounded, local: local) == nil)
        #expect(PeerSources.probeRefusal("10.8.0.1", template: bounded, local: local)?.contains("this host") == true)
        #expect(PeerSources.probeRefusal("::1", template: template, local: [])?.contains("loopback") == true)
        #expect(PeerSources.probeRefusal("0.0.0.1", template: template, local: [])?.contains("unspecified") == true)
        #expect(PeerSources.probeRefusal("192.0.2.7", template: bounded, local: [])?.contains("outside learn_within") == true)
        // A ::/0 "peer" would be probed at ::1 (its first host): refused, it keeps its fallback.
        #expect(PeerSources.probeRefusal(PeerSources.probeAddress([try IPPrefix(parsing: "::/0")]), template: template, local: []) != nil)

        let policy = try Self.manager(
            "[[peer]]\nname = \"vpn\"\nlearn_address = true\nlearn_within = [\"10.9.0.0/24\"]\nlearn_max = 2\nmss = 1300\n")
        let sources = PeerSources(
            policy: policy, auto: AutoCeilings(sockets: nil, unavailable: "test", logger: Logger(label: "t")), logger: Logger(label: "t"),
            changed: { _ in })
        #expect(throws: Never.self) { try sources.learn(template: "vpn", operation: "add", address: "10.9.0.2", commonName: "a", trusted: false).get() }
        #expect(throws: Never.self) { try sources.learn(template: "vpn", operation: "add", address: "10.9.0.3", commonName: "b", trusted: false).get() }
        // The third is one past learn_max; an address outside the pool is refused for root as well.
        #expect(throws: PolicyError.self) { try sources.learn(template: "vpn", operation: "add", address: "10.9.0.4", commonName: "c").get() }
        #expect(throws: PolicyError.self) { try sources.learn(template: "vpn", operation: "add", address: "10.7.0.4", commonName: "d").get() }
        #expect(policy.sourcedPeers.map(\.name).sorted() == ["vpn/a", "vpn/b"])
        // Without learn_within, only root may teach a template.
        let open = try Self.manager("[[peer]]\nname = \"vpn\"\nlearn_address = true\nmss = 1300\n")
        let openSources = PeerSources(
            policy: open, auto: AutoCeilings(sockets: nil, unavailable: "test", logger: Logger(label: "t")), logger: Logger(label: "t"),
            changed: { _ in })
        #expect(throws: PolicyError.self) { try openSources.learn(template: "vpn", operation: "add", address: "10.9.0.2", commonName: "a", trusted: false).get() }
        #expect(throws: Never.self) { try openSources.learn(template: "vpn", operation: "add", address: "10.9.0.2", commonName: "a", trusted: true).get() }
    }

    @Test func learnedAddressesSurviveARestart() throws {
        let path = "/tmp/mssclamp-test-\(UUID().uuidString).learned"
        defer { unlink(path) }
        let text = "[[peer]]\nname = \"vpn\"\nlearn_address = true\nmss = 1300\n"
        let first = PeerSources(
            policy: try Self.manager(text), auto: AutoCeilings(sockets: nil, unavailable: "test", logger: Logger(label: "t")),
            logger: Logger(label: "t"), learnedPath: path, changed: { _ in })
        _ = first.learn(template: "vpn", operation: "add", address: "10.9.0.2", commonName: "alice")
        let policy = try Self.manager(text)
        let second = PeerSources(
            policy: policy, auto: AutoCeilings(sockets: nil, unavailable: "test", logger: Logger(label: "t")),
            logger: Logger(label: "t"), learnedPath: path, changed: { _ in })
        second.start()
        second.stop()
        #expect(policy.sourcedPeers.map(\.name) == ["vpn/alice"])
    }

    @Test func fileAndLivePeersWinOverSourcedOnes() throws {
        let policy = try Self.manager(
            "[[peer]]\nname = \"site\"\nmatch = [\"10.9.0.2/32\"]\nmss = 1200\n\n[[peer]]\nname = \"vpn\"\nlearn_address = true\nmss = 1300\n")
        let sources = PeerSources(
            policy: policy, auto: AutoCeilings(sockets: nil, unavailable: "test", logger: Logger(label: "t")), logger: Logger(label: "t"),
            changed: { _ in })
        _ = sources.learn(template: "vpn", operation: "add", address: "10.9.0.2", commonName: "alice")
        _ = sources.learn(template: "vpn", operation: "add", address: "10.9.0.3", commonName: "bob")
        #expect(policy.sourcedPeers.map(\.name) == ["vpn/bob"])
        #expect(policy.store.snapshot.peers.count == 2)
    }

    /// What the daemon applies to an auto peer before its first measurement: the peer in force carries
    /// 1240/1220 (its fallback is higher), and a SYN toward it is decided with that ceiling.
    @Test func aLearnedAutoPeerIsInForceWithTheProvisionalCeiling() throws {
        let policy = try Self.manager("[defaults]\nmss4 = 1400\nmss6 = 1380\n\n[[peer]]\nname = \"vpn\"\nlearn_address = true\nmss = \"auto\"\n")
        // Measuring is possible (no reason it is unavailable) but the measuring thread never runs here:
        // the peer stays in its first state.
        let auto = AutoCeilings(sockets: nil, unavailable: nil, logger: Logger(label: "t"))
        let sources = PeerSources(policy: policy, auto: auto, logger: Logger(label: "t"), changed: { _ in })
        #expect(throws: Never.self) { try sources.learn(template: "vpn", operation: "add", address: "10.9.0.2", commonName: "alice").get() }
        #expect(policy.sourcedPeers.map(\.ceiling.ceilings) == [Ceilings(ipv4: 1240, ipv6: 1220)])
        #expect(auto.reports().map(\.state) == ["measuring"])
        #expect(auto.reports().map(\.mss4) == [1240] && auto.reports().map(\.mss6) == [1220])
        let snapshot = policy.store.snapshot
        let index = snapshot.peerNames.firstIndex(of: "vpn/alice")
        #expect(index.map { snapshot.peers[$0].ceilings } == Ceilings(ipv4: 1240, ipv6: 1220), "\(snapshot.peerNames)")
    }

    @Test func anAutoPeerIsProvisionalUntilItCanBeMeasured() {
        // Sockets exist only in the daemon; without them an auto peer gets its fallback at once.
        let none = AutoCeilings(sockets: nil, unavailable: "no CAP_NET_RAW", logger: Logger(label: "t"))
        let target = AutoCeilings.Target(
            peer: "rw/a", template: "rw", address: "10.9.0.2", endpoint: nil, fallback: Ceilings(ipv4: 1380, ipv6: 1360),
            fallbackSource: "route MTU 1420", needsEndpoint: true)
        let (ceilings, note) = none.track(target)
        #expect(ceilings == Ceilings(ipv4: 1380, ipv6: 1360))
        #expect(note.contains("no CAP_NET_RAW"))
        #expect((1...7).map { AutoCeilings.retryDelay(failures: $0) } == [5000, 10000, 20000, 40000, 60000, 60000, 60000])
    }
}
