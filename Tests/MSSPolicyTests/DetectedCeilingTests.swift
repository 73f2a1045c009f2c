import Foundation
import MSSWire
import Testing

@testable import MSSPolicy

/// A ceiling detected for one address lowers only that address, in the list both the daemon's prefix
/// table and the kernel net are compiled from.
@Suite("Detected ceilings")
struct DetectedCeilingTests {
    static func peer(_ name: String, _ match: [String], mss: UInt16, interface: String? = nil) -> PeerDefinition {
        PeerDefinition(
            name: name, match: match.map { try! IPPrefix(parsing: $0) }, inInterface: interface,
            ceiling: .fixed(Ceilings(ipv4: mss, ipv6: mss - 20)))
    }

    static func detected(_ address: String, mtu: Int) -> DetectedCeiling {
        DetectedCeiling(
            address: try! IPPrefix(parsing: address), ceilings: Ceilings(linkMTU: mtu), note: "test",
            expiresAt: Date().addingTimeInterval(60))
    }

    static func decide(_ peers: [PeerDefinition], _ address: String) throws -> UInt16? {
        let snapshot = try PolicySnapshot(
            version: 1, configuration: PolicyConfiguration(defaults: Ceilings(ipv4: 1460, ipv6: 1440)), livePeers: peers,
            interfaceIndex: { _ in 1 })
        let index = snapshot.definitions.indices.max { a, b in
            let la = snapshot.definitions[a].match.filter { $0.covers(try! IPPrefix(parsing: address)) }.map(\.length).max() ?? -1
            let lb = snapshot.definitions[b].match.filter { $0.covers(try! IPPrefix(parsing: address)) }.map(\.length).max() ?? -1
            return la < lb
        }
        return index.flatMap { snapshot.definitions[$0].ceiling.ceilings.ipv4 }
    }

    @Test func aWideningPeerGetsAHostPeerAfterIt() throws {
        let peers = [Self.peer("office", ["10.0.0.0/8"], mss: 1380, interface: "wg0"), Self.peer("other", ["192.0.2.0/24"], mss: 1400)]
        let result = PeerDefinition.applying([Self.detected("10.1.2.3/32", mtu: 1328)], to: peers)
        #expect(result.map(\.name) == ["office", "office@10.1.2.3", "other"])
        #expect(result[1].match.map(\.description) == ["10.1.2.3/32"])
        #expect(result[1].ceiling.ceilings == Ceilings(ipv4: 1288, ipv6: 1268))
        #expect(result[1].inInterface == "wg0", "the host peer keeps its peer's conditions")
        #expect(result[0] == peers[0] && result[2] == peers[1])
        #expect(try Self.decide(result, "10.1.2.3") == 1288)
        #expect(try Self.decide(result, "10.1.2.4") == 1380)
    }

    @Test func aClientsOwnPrefixIsLoweredInPlace() throws {
        // A WireGuard road warrior: its AllowedIPs is the one address.
        let peers = [Self.peer("rw/abc", ["10.9.0.3/32"], mss: 1380)]
        let result = PeerDefinition.applying([Self.detected("10.9.0.3/32", mtu: 1328)], to: peers)
        #expect(result.count == 1 && result[0].name == "rw/abc")
        #expect(result[0].ceiling == .detected(Ceilings(ipv4: 1288, ipv6: 1268), note: "test; the peer's own: mss 1380/1360"))
    }

    @Test func aClientWithTwoPrefixesHasTheAddressMoved() throws {
        let peers = [Self.peer("rw/abc", ["10.9.0.3/32", "2001:db8:9::3/128"], mss: 1380)]
        let result = PeerDefinition.applying([Self.detected("10.9.0.3/32", mtu: 1328)], to: peers)
        #expect(result.map(\.name) == ["rw/abc", "rw/abc@10.9.0.3"])
        #expect(result[0].match.map(\.description) == ["2001:db8:9::3/128"])
        #expect(result[0].ceiling.ceilings.ipv4 == 1380)
        #expect(result[1].ceiling.ceilings.ipv4 == 1288)
        // Both compile: the address is claimed once.
        #expect(try Self.decide(result, "10.9.0.3") == 1288)
    }

    @Test func neverRaisesAndLeavesUnclaimedAddressesAlone() {
        let peers = [Self.peer("low", ["10.0.0.0/8"], mss: 1200)]
        #expect(PeerDefinition.applying([Self.detected("10.1.2.3/32", mtu: 1328)], to: peers) == peers)
        #expect(PeerDefinition.applying([Self.detected("198.51.100.7/32", mtu: 1328)], to: peers) == peers)
        #expect(PeerDefinition.applying([], to: peers) == peers)
    }
}

@Suite("detect = false")
struct DetectKeyTests {
    @Test func readOnPeersAndTemplatesAndSavedBack() throws {
        let text = """
            [[peer]]
            name = "office"
            match = "10.0.0.0/8"
            mss = 1380
            detect = false

            [[peer]]
            name = "rw"
            wireguard = "wg0"
            mss = 1380
            detect = false

            [[peer]]
            name = "other"
            match = "192.0.2.0/24"
            mss = 1400

            """
        let configuration = try PolicyConfiguration.parse(text, file: "p.toml")
        #expect(configuration.peers.map(\.detect) == [false, true])
        #expect(configuration.templates.first?.detect == false)
        let saved = try PolicyConfiguration.parse(configuration.peers[0].tomlText, file: "saved.toml")
        #expect(saved.peers.first?.detect == false)
    }

    @Test func aBadValueNamesFileLineAndKey() {
        do {
            _ = try PolicyConfiguration.parse("[[peer]]\nname = \"x\"\nmatch = \"10.0.0.0/8\"\nmss = 1300\ndetect = \"no\"\n", file: "p.toml")
            Issue.record("detect = \"no\" was taken")
        } catch {
            #expect("\(error)".contains("p.toml:5"), "\(error)")
            #expect("\(error)".contains("peer \"x\".detect"), "\(error)")
        }
    }
}
