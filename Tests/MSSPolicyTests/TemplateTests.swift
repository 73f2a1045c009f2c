import Testing

@testable import MSSPolicy

/// Issue 12: `[[peer]]` templates (`wireguard`, `learn_address`), `mss = "auto"` and `[control] group`.
@Suite("Peer templates")
struct TemplateTests {
    func diagnostics(_ text: String) -> [String] {
        do {
            _ = try PolicyConfiguration.parse(text, file: "t.toml")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    /// The acceptance policy, exactly as the issue gives it.
    @Test func theRoadWarriorPolicyParses() throws {
        let configuration = try PolicyConfiguration.parse(
            """
            [[peer]]
            name = "roadwarriors"
            wireguard = "wg0"
            mss = "auto"
            """, file: "t.toml")
        #expect(configuration.peers.isEmpty)
        #expect(configuration.templates == [PeerTemplate(name: "roadwarriors", source: .wireguard(interface: "wg0"), ceiling: .auto(fallback: nil), file: "t.toml", line: 1)])
        #expect(configuration.templates[0].peerName("aB+c/d=") == "roadwarriors/aB_c_d_")
    }

    @Test func learnAddressWithAGivenOrAComputedCeiling() throws {
        let configuration = try PolicyConfiguration.parse(
            """
            [control]
            group = "nogroup"

            [[peer]]
            name = "fixed"
            learn_address = true
            mss = 1300

            [[peer]]
            name = "computed"
            learn_address = true
            link_mtu = 1500
            encap = ["openvpn-udp"]
            cipher = "aes-gcm-256"

            [[peer]]
            name = "measured"
            learn_address = true
            mss = "auto"
            link_mtu = 1400
            encap = ["openvpn-udp"]
            cipher = "aes-gcm-256"
            """, file: "t.toml")
        #expect(configuration.controlGroup == "nogroup")
        #expect(configuration.templates.map(\.name) == ["fixed", "computed", "measured"])
        #expect(configuration.templates[0].ceiling == .given(.fixed(Ceilings(ipv4: 1300, ipv6: 1280))))
        guard case .given(let computed) = configuration.templates[1].ceiling, case .auto(let fallback?) = configuration.templates[2].ceiling else {
            Issue.record("\(configuration.templates)")
            return
        }
        // The calculator's figures, the same the sweep checks against real OpenVPN tunnels.
        #expect(computed.ceilings.ipv4 == 1408)
        #expect(fallback.ceilings.ipv4 == 1308)
    }

    @Test(arguments: [
        ("[[peer]]\nname = \"a\"\nmatch = [\"10.0.0.0/8\"]\nmss = \"auto\"", "t.toml:4: peer \"a\".mss"),
        ("[[peer]]\nname = \"a\"\nwireguard = \"wg0\"\nmatch = [\"10.0.0.0/8\"]\nmss = 1300", "t.toml:4: peer \"a\".match"),
        ("[[peer]]\nname = \"a\"\nwireguard = \"wg0\"\nlearn_address = true\nmss = 1300", "t.toml:4: peer \"a\".learn_address"),
        ("[[peer]]\nname = \"a\"\nlearn_address = false\nmss = 1300", "t.toml:3: peer \"a\".learn_address"),
        ("[[peer]]\nname = \"a\"\nwireguard = \"a/b\"\nmss = 1300", "t.toml:3: peer \"a\".wireguard"),
        ("[[peer]]\nname = \"a\"\nwireguard = \"wg0\"\nmss = \"auto\"\nmss6 = 1200", "t.toml:5: peer \"a\".mss6"),
    ])
    func mistakesNameFileLineAndKey(text: String, expected: String) {
        let found = diagnostics(text)
        #expect(found.contains { $0.hasPrefix(expected) }, "\(found)")
    }
}
