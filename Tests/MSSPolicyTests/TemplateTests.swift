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

    /// Issue 19: what a learn-address template may be taught. Host addresses inside `learn_within` pass;
    /// wider prefixes, addresses outside, and special-use space are refused with the reason.
    @Test func learnBoundsRefuseWhatIsOutside() throws {
        let configuration = try PolicyConfiguration.parse(
            """
            [[peer]]
            name = "clients"
            learn_address = true
            learn_within = ["10.8.0.0/24", "fd00:8::/64"]
            learn_max = 2
            mss = 1300
            """, file: "t.toml")
        let bounds = configuration.templates[0].learning
        #expect(bounds.maximum == 2 && !bounds.subnets && bounds.within.map(\.description) == ["10.8.0.0/24", "fd00:8::/64"])
        for accepted in ["10.8.0.42", "fd00:8::42"] {
            #expect(bounds.refusal(try IPPrefix(parsing: accepted)) == nil, "\(accepted)")
        }
        let refusals = [
            "0.0.0.0/0": "not a host address", "::/0": "not a host address", "192.0.2.7": "outside learn_within",
            "10.8.0.0/25": "not a host address", "10.9.0.1": "outside learn_within", "fd00:9::1": "outside learn_within",
        ]
        for (address, reason) in refusals {
            let refusal = bounds.refusal(try IPPrefix(parsing: address))
            #expect(refusal?.contains(reason) == true, "\(address): \(refusal ?? "accepted")")
        }
        // Without bounds, special-use space is still never a client's address.
        let open = LearnBounds(subnets: true)
        for address in ["127.0.0.1", "::1", "224.0.0.5", "0.0.0.0/0", "64.0.0.0/2", "ff02::1"] {
            #expect(open.refusal(try IPPrefix(parsing: address)) != nil, "\(address) passed")
        }
        #expect(open.refusal(try IPPrefix(parsing: "10.8.0.0/24")) == nil)
    }

    /// The bounds are a learn-address template's keys: anywhere else, and out of range, they are errors.
    @Test func learnBoundsBelongToLearnAddressTemplates() {
        let wireguard = diagnostics("[[peer]]\nname = \"wg\"\nwireguard = \"wg0\"\nlearn_within = [\"10.8.0.0/24\"]\nmss = 1300\n")
        #expect(wireguard.contains { $0.contains("t.toml:4: peer \"wg\".learn_within") && $0.contains("only a learn_address template") }, "\(wireguard)")
        let plain = diagnostics("[[peer]]\nname = \"p\"\nmatch = \"10.1.0.0/16\"\nlearn_max = 5\nmss = 1300\n")
        #expect(plain.contains { $0.contains("learn_max") }, "\(plain)")
        let wide = diagnostics("[[peer]]\nname = \"c\"\nlearn_address = true\nlearn_within = [\"0.0.0.0/0\"]\nmss = 1300\n")
        #expect(wide.contains { $0.contains("learn_within") && $0.contains("overlaps") }, "\(wide)")
        let many = diagnostics("[[peer]]\nname = \"c\"\nlearn_address = true\nlearn_max = 0\nmss = 1300\n")
        #expect(many.contains { $0.contains("learn_max") }, "\(many)")
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
