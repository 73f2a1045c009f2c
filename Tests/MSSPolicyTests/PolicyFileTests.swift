import MSSWire
import Testing
import WireFixtures

@testable import MSSPolicy

@Suite("Policy file")
struct PolicyFileTests {
    static let example = """
        # A VPN server: road warriors and one IPsec site.
        [queue]
        num = "0-1"
        fail_open = true

        [defaults]
        mss4 = 1360
        mss6 = 1340
        insert_missing = true

        [control]
        socket = "/run/mssclamp/test.sock"

        [[peer]]
        name  = "android-roadwarriors"
        match = ["10.8.0.0/24", "fd00:8::/64"]   # source or destination inside -> this peer
        mss   = 1300

        [[peer]]
        name     = "azure-site"
        match    = [
            "172.16.0.0/16",  # the site
        ]
        link_mtu = 1500
        encap    = ["ipsec-esp-tunnel", "nat-t"]
        cipher = "aes-gcm-256"

        [[peer]]
        name = "monitoring"
        match = "192.0.2.10/32"
        mss = "none"

        [[peer]]
        name = "pppoe-uplink"
        out_interface = "ppp0"
        fwmark = "0x10/0xff"
        mss = 1452
        mss6 = 1432
        """

    func diagnostics(_ text: String) -> [String] {
        do {
            _ = try PolicyConfiguration.parse(text, file: "policy.toml")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func theArchitectureExampleParses() throws {
        let configuration = try PolicyConfiguration.parse(Self.example, file: "policy.toml")
        #expect(configuration.queue.num == "0-1")
        #expect(configuration.queue.failOpen == true)
        #expect(configuration.defaults == Ceilings(ipv4: 1360, ipv6: 1340))
        #expect(configuration.controlSocket == "/run/mssclamp/test.sock")
        #expect(configuration.peers.map(\.name) == ["android-roadwarriors", "azure-site", "monitoring", "pppoe-uplink"])
        let android = configuration.peers[0]
        #expect(android.match.map(\.description) == ["10.8.0.0/24", "fd00:8::/64"])
        #expect(android.ceiling == .fixed(Ceilings(ipv4: 1300, ipv6: 1280)))
        #expect(android.origin == .file("policy.toml", line: 14))
        if case .derived(let mtu, let encapsulation, let cipher, _, let ceilings) = configuration.peers[1].ceiling {
            #expect(mtu == 1500 && encapsulation == ["ipsec-esp-tunnel", "nat-t"] && cipher == "aes-gcm-256")
            // The calculator's value; 1360 is the conservative one that fits every cipher.
            let expected = try OverheadCalculator.compute(
                linkMTU: 1500, names: ["ipsec-esp-tunnel", "nat-t"], cipher: "aes-gcm-256", integrity: nil)
            #expect(ceilings == Ceilings(ipv4: UInt16(expected.mss4), ipv6: UInt16(expected.mss6)))
            #expect(expected.mss4 >= 1360 && expected.mss4 < 1460)
        } else {
            Issue.record("azure-site should be derived")
        }
        #expect(configuration.peers[2].ceiling == PeerCeiling.none)
        #expect(configuration.peers[3].fwmark == FirewallMark(value: 0x10, mask: 0xff))
        #expect(configuration.peers[3].outInterface == "ppp0")
    }

    @Test func everyErrorNamesFileLineAndKey() {
        let text = """
            [defaults]
            mss4 = 70000
            msss6 = 1340

            [[peer]]
            name = "a"
            match = ["10.0.0.300/24", "10.1.0.1/16"]
            mss = 1300

            [[peer]]
            name = "b"
            match = ["192.0.2.0/24"]
            link_mtu = 1500
            encap = ["ipsec-esp-tunnel", "carrier-pigeon"]

            [[peer]]
            name = "c"
            match = ["192.0.2.0/24"]
            mss = 87

            [peers]
            x = 1
            """
        let found = diagnostics(text)
        let expected = [
            "policy.toml:2: defaults.mss4: MSS 70000 is outside 88-65495",
            "policy.toml:3: defaults.msss6: unknown key (did you mean 'mss6'?)",
            "policy.toml:7: peer \"a\".match: bad prefix '10.0.0.300/24'",
            "policy.toml:7: peer \"a\".match: bad prefix '10.1.0.1/16'",
            "policy.toml:14: peer \"b\".encap:",
            "policy.toml:19: peer \"c\".mss: MSS 87 is outside 88-65495",
            "policy.toml:21: peers: unknown table",
        ]
        for prefix in expected {
            #expect(found.contains { $0.hasPrefix(prefix) }, "missing '\(prefix)' in \(found)")
        }
        #expect(found.contains { $0.contains("carrier-pigeon") }, "\(found)")
        #expect(found.contains { $0.contains("host bits") || $0.contains("10.1.0.0/16") }, "\(found)")
    }

    @Test func aPrefixClaimedByTwoPeersIsRefused() {
        let found = diagnostics(
            """
            [[peer]]
            name = "a"
            match = ["2001:db8:1::/48"]
            mss = 1300

            [[peer]]
            name = "b"
            match = ["2001:db8:1:0::/48"]
            mss = 1200
            """)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("policy.toml:6: peer \"b\".match: prefix 2001:db8:1::/48 is already claimed by peer \"a\" (policy.toml:1, mss 1300/1280)") == true, "\(found)")
    }

    @Test(arguments: [
        ("[defaults]\nmss4 = 1.5", 2, "floats are not supported"),
        ("[defaults]\nmss4 = 1360\nmss4 = 1300", 3, "set twice"),
        ("[defaults]\n[defaults]", 2, "defined twice"),
        ("[[peer]]\nname = \"x\nmss = 1", 2, "not closed"),
        ("[[peer]]\nmatch = [\"10.0.0.0/8\"\nmss = 1", 2, "expected ',' or ']'"),
        ("[defaults]\nmss4.x = 1", 2, "dotted keys"),
        ("[peer]\nname = \"x\"", 1, "[[peer]]"),
        ("mss4 = 1360", 1, "keys belong in a table"),
        ("[[peer]]\nname = \"x\"\nmatch = [\"10.0.0.0/8\"]", 1, "a peer needs mss"),
        ("[[peer]]\nname = \"bad name\"\nmss = 1300\nmatch=[\"10.0.0.0/8\"]", 2, "not a valid name"),
        ("[[peer]]\nname = \"x\"\nmss = 1300\nlink_mtu = 1500\nmatch=[\"10.0.0.0/8\"]", 4, "either mss or link_mtu"),
        ("[[peer]]\nname = \"x\"\nmss = 1300", 1, "needs match, in_interface"),
        ("[queue]\nnum = \"3-1\"", 2, "queue number"),
        ("[[peer]]\nname = \"x\"\nmss = 1300\nmatch=[\"10.0.0.0/8\"]\nfwmark = \"0x11/0x10\"", 5, "fwmark"),
    ])
    func syntaxAndValueErrorsCarryTheirLine(text: String, line: Int, message: String) {
        let found = diagnostics(text)
        #expect(found.contains { $0.hasPrefix("policy.toml:\(line):") && $0.contains(message) }, "\(found)")
    }

    @Test func tomlSubsetReadsIntegersStringsAndMultiLineArrays() throws {
        let document = try TOMLReader(
            """
            [t]
            a = 0x10
            b = 1_000
            c = -5
            d = 'C:\\path'
            e = "tab\\there \\u00e9"
            f = [
              1, # one
              2,
            ]
            g = true
            """
        ).parse()
        let table = try #require(document.tables.first?.table)
        #expect(table["a"]?.value.kind == .integer(16))
        #expect(table["b"]?.value.kind == .integer(1000))
        #expect(table["c"]?.value.kind == .integer(-5))
        #expect(table["d"]?.value.kind == .string("C:\\path"))
        #expect(table["e"]?.value.kind == .string("tab\there é"))
        #expect(table["f"]?.line == 7)
        if case .array(let values) = table["f"]?.value.kind {
            #expect(values.map(\.kind) == [.integer(1), .integer(2)])
            #expect(values.map(\.line) == [8, 9])
        } else {
            Issue.record("f should be an array")
        }
        #expect(table["g"]?.value.kind == .boolean(true))
        #expect(TOMLReader.integer("012") == nil)
        #expect(TOMLReader.integer("1__0") == nil)
        #expect(TOMLReader.integer("-0x10") == nil)
    }

    @Test func savedPeersReadBackIdentically() throws {
        let configuration = try PolicyConfiguration.parse(Self.example, file: "policy.toml")
        let text = configuration.peers.map(\.tomlText).joined(separator: "\n")
        let again = try PolicyConfiguration.parse(text, file: "saved.toml")
        #expect(again.peers.map(\.name) == configuration.peers.map(\.name))
        for (a, b) in zip(again.peers, configuration.peers) {
            #expect(a.match == b.match && a.ceiling == b.ceiling && a.fwmark == b.fwmark)
            #expect(a.inInterface == b.inInterface && a.outInterface == b.outInterface)
        }
    }

    @Test func livePeerFieldsAreValidatedLikeTheFile() {
        #expect(throws: PolicyError.self) {
            try PeerDefinition.validated([("name", .string("x")), ("mss", .integer(1300))], source: "peer add")
        }
        do {
            _ = try PeerDefinition.validated(
                [("name", .string("x")), ("match", .array([TOMLValue(kind: .string("10.0.0.0/33"), line: 0)])),
                 ("mss", .integer(1300))], source: "peer add")
            Issue.record("a /33 must be refused")
        } catch {
            #expect(error.description.hasPrefix("peer add: peer \"x\".match: bad prefix '10.0.0.0/33'"), "\(error)")
        }
    }
}

@Suite("Policy decisions")
struct PolicyDecisionTests {
    /// The Linux SYN fixture with its addresses replaced.
    static func syn(from source: [UInt8], to destination: [UInt8]) -> [UInt8] {
        var packet = Fixtures.linuxSYN
        packet.replaceSubrange(12..<16, with: source)
        packet.replaceSubrange(16..<20, with: destination)
        return packet
    }

    static func policy(_ text: String) throws -> PolicySnapshot {
        try PolicySnapshot(
            version: 1, configuration: PolicyConfiguration.parse(text, file: "t.toml"),
            interfaceIndex: { $0 == "tun0" ? 7 : nil })
    }

    static func clampedMSS(_ packet: [UInt8], _ policy: PolicySnapshot, metadata: PacketMetadata = PacketMetadata())
        -> (mss: UInt16?, peer: String)
    {
        var bytes = packet + [0, 0, 0, 0]
        var length = packet.count
        let (outcome, peer, _) = bytes.withUnsafeMutableBytes {
            ClampEngine.process($0, length: &length, metadata: metadata, policy: policy)
        }
        let name = peer >= 0 ? policy.peerNames[peer] : PolicySnapshot.defaultPeerName
        switch outcome {
        case .clamped(_, let to, _): return (to, name)
        case .alreadyLow: return (1460, name)
        default: return (nil, name)
        }
    }

    static let text = """
        [defaults]
        mss4 = 1400

        [[peer]]
        name = "wide"
        match = ["10.0.0.0/8"]
        mss = 1350

        [[peer]]
        name = "narrow"
        match = ["10.1.0.0/16"]
        mss = 1300

        [[peer]]
        name = "server"
        match = ["203.0.113.0/24"]
        mss = 1200

        [[peer]]
        name = "exempt"
        match = ["198.51.100.0/24"]
        mss = "none"

        [[peer]]
        name = "tunnel"
        in_interface = "tun0"
        mss = 1100
        """

    @Test func longestPrefixThenLowerCeilingWins() throws {
        let policy = try Self.policy(Self.text)
        // Only the source matches: the longest prefix decides.
        #expect(Self.clampedMSS(Self.syn(from: [10, 1, 2, 3], to: [192, 0, 2, 1]), policy) == (1300, "narrow"))
        #expect(Self.clampedMSS(Self.syn(from: [10, 2, 2, 3], to: [192, 0, 2, 1]), policy) == (1350, "wide"))
        // Both ends match different peers: the lower ceiling wins, in either direction.
        #expect(Self.clampedMSS(Self.syn(from: [10, 1, 2, 3], to: [203, 0, 113, 5]), policy) == (1200, "server"))
        #expect(Self.clampedMSS(Self.syn(from: [203, 0, 113, 5], to: [10, 2, 0, 1]), policy) == (1200, "server"))
        // "none" loses to any ceiling, and alone it exempts.
        #expect(Self.clampedMSS(Self.syn(from: [198, 51, 100, 9], to: [10, 2, 0, 1]), policy) == (1350, "wide"))
        #expect(Self.clampedMSS(Self.syn(from: [198, 51, 100, 9], to: [192, 0, 2, 1]), policy) == (nil, "exempt"))
        // No peer: the defaults.
        #expect(Self.clampedMSS(Self.syn(from: [192, 0, 2, 9], to: [192, 0, 2, 1]), policy) == (1400, "(default)"))
        // An interface peer joins in when the packet came in on tun0 (index 7).
        let fromTunnel = PacketMetadata(inInterface: 7)
        #expect(Self.clampedMSS(Self.syn(from: [192, 0, 2, 9], to: [192, 0, 2, 1]), policy, metadata: fromTunnel) == (1100, "tunnel"))
        #expect(Self.clampedMSS(Self.syn(from: [10, 1, 0, 9], to: [192, 0, 2, 1]), policy, metadata: fromTunnel) == (1100, "tunnel"))
        #expect(policy.lowestCeilings == Ceilings(ipv4: 1100, ipv6: 1080))
    }

    /// IPv6 SYNs take the IPv6 ceilings: of the peer that claims them, else of the defaults.
    @Test func ipv6TakesTheIPv6Ceilings() throws {
        let policy = try Self.policy(
            """
            [defaults]
            mss4 = 1400
            mss6 = 1300

            [[peer]]
            name = "site"
            match = ["2001:db8:1::/48"]
            mss = 1360
            mss6 = 1280
            """)
        // The Linux IPv6 SYN (MSS 1440) from 2001:db8:1::10 to 2001:db8:2::20, and with the site's
        // address replaced by 2001:db8:3::10.
        #expect(Self.clampedMSS(Fixtures.linuxSYNv6, policy) == (1280, "site"))
        var elsewhere = Fixtures.linuxSYNv6
        elsewhere[13] = 3
        #expect(Self.clampedMSS(elsewhere, policy) == (1300, "(default)"))
    }

    @Test func missingInterfacesAreReportedAndMatchNothing() throws {
        let policy = try Self.policy(
            """
            [[peer]]
            name = "ppp"
            out_interface = "ppp9"
            mss = 1000
            """)
        #expect(policy.missingInterfaces == ["ppp9"])
        #expect(Self.clampedMSS(Self.syn(from: [10, 0, 0, 1], to: [10, 0, 0, 2]), policy, metadata: PacketMetadata(outInterface: 0)) == (1360, "(default)"))
    }
}
