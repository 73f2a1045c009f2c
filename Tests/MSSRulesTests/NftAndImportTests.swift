import MSSPolicy
import Testing

@testable import MSSRules

@Suite("nftables rendering and TCPMSS import")
struct NftAndImportTests {
    let spec = RuleSpec(queues: QueueRange(first: 0, last: 0), lowest: Ceilings(ipv4: 1360, ipv6: 1340))

    @Test func goldenQueueTable() {
        #expect(NftablesRules.queueScript(spec) == """
            table inet mssclamp {
            \tchain forward {
            \t\ttype filter hook forward priority mangle; policy accept;
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 counter queue num 0 bypass
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv6 counter queue num 0 bypass
            \t}
            }

            """)
        var balanced = spec
        balanced.queues = QueueRange(first: 0, last: 3)
        balanced.cpuFanout = true
        balanced.hooks = [.output]
        let script = NftablesRules.queueScript(balanced)
        #expect(script.contains("type route hook output priority mangle"))
        #expect(script.contains("queue num 0-3 bypass,fanout"))
    }

    static let policy = """
        [defaults]
        mss4 = 1400
        mss6 = 1380

        [[peer]]
        name = "wide"
        match = ["10.0.0.0/8"]
        mss = 1350

        [[peer]]
        name = "narrow"
        match = ["10.1.0.0/16", "2001:db8:1::/48"]
        mss = 1300

        [[peer]]
        name = "exempt"
        match = ["10.2.0.0/16"]
        mss = "none"
        """

    @Test func goldenMapTable() throws {
        let configuration = try PolicyConfiguration.parse(Self.policy, file: "p.toml")
        let compiled = NftablesRules.mapScript(configuration, hooks: [.forward])
        #expect(compiled.script == """
            table inet mssclamp {
            \tcounter clamped {
            \t}
            \tmap v4_peers {
            \t\ttype ipv4_addr : verdict
            \t\tflags interval
            \t\telements = { 10.0.0.0/16 : jump clamp_1350,
            \t\t\t     10.1.0.0/16 : jump clamp_1300,
            \t\t\t     10.2.0.0/16 : continue,
            \t\t\t     10.3.0.0-10.255.255.255 : jump clamp_1350 }
            \t}
            \tset v4_claimed {
            \t\ttype ipv4_addr
            \t\tflags interval
            \t\telements = { 10.0.0.0/8 }
            \t}
            \tmap v6_peers {
            \t\ttype ipv6_addr : verdict
            \t\tflags interval
            \t\telements = { 2001:db8:1:0:0:0:0:0/48 : jump clamp_1280 }
            \t}
            \tset v6_claimed {
            \t\ttype ipv6_addr
            \t\tflags interval
            \t\telements = { 2001:db8:1:0:0:0:0:0/48 }
            \t}
            \tchain clamp_1280 {
            \t\ttcp option maxseg size > 1280 counter name "clamped" tcp option maxseg size set 1280
            \t}
            \tchain clamp_1300 {
            \t\ttcp option maxseg size > 1300 counter name "clamped" tcp option maxseg size set 1300
            \t}
            \tchain clamp_1350 {
            \t\ttcp option maxseg size > 1350 counter name "clamped" tcp option maxseg size set 1350
            \t}
            \tchain clamp_1380 {
            \t\ttcp option maxseg size > 1380 counter name "clamped" tcp option maxseg size set 1380
            \t}
            \tchain clamp_1400 {
            \t\ttcp option maxseg size > 1400 counter name "clamped" tcp option maxseg size set 1400
            \t}
            \tchain forward {
            \t\ttype filter hook forward priority mangle; policy accept;
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 ip saddr vmap @v4_peers
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 ip daddr vmap @v4_peers
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 ip saddr @v4_claimed return
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 ip daddr @v4_claimed return
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 tcp option maxseg size > 1400 counter name "clamped" tcp option maxseg size set 1400
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv6 ip6 saddr vmap @v6_peers
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv6 ip6 daddr vmap @v6_peers
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv6 ip6 saddr @v6_claimed return
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv6 ip6 daddr @v6_claimed return
            \t\ttcp flags & (syn | rst) == syn meta nfproto ipv6 tcp option maxseg size > 1380 counter name "clamped" tcp option maxseg size set 1380
            \t}
            }

            """)
        #expect(compiled.notOffloaded.contains { $0.contains("cannot insert") })
    }

    /// Peers with conditions compile too: their own ranges, their conditions, and a return so that the
    /// defaults do not apply to what they claim.
    @Test func conditionalPeersCompileWithTheirConditions() throws {
        let configuration = try PolicyConfiguration.parse(
            "[defaults]\nmss4 = 1400\nmss6 = 1380\n[[peer]]\nname = \"ppp\"\nout_interface = \"ppp0\"\nmss = 1452\nmss6 = 1432\n"
                + "[[peer]]\nname = \"tun\"\nin_interface = \"tun0\"\nfwmark = \"0x10/0xff\"\nmatch = [\"10.8.0.0/24\"]\nmss = 1300\n",
            file: "p.toml")
        let script = NftablesRules.mapScript(configuration, hooks: [.forward]).script
        #expect(script.contains("meta nfproto ipv4 oifname \"ppp0\" jump clamp_1452"), "\(script)")
        #expect(script.contains("meta nfproto ipv4 oifname \"ppp0\" return"), "\(script)")
        #expect(script.contains("meta nfproto ipv4 ip saddr @p1_v4_owned iifname \"tun0\" meta mark & 0xff == 0x10 jump clamp_1300"), "\(script)")
        #expect(script.contains("meta nfproto ipv4 ip daddr @p1_v4_owned iifname \"tun0\" meta mark & 0xff == 0x10 return"), "\(script)")
        #expect(script.contains("set p1_v4_owned {") && script.contains("elements = { 10.8.0.0/24 }"), "\(script)")
        // No unconditional peer: no lookups in the maps.
        #expect(!script.contains("vmap"), "\(script)")
    }

    /// A live peer added or removed changes elements only; a new kind of peer changes the rules.
    @Test func elementUpdatesWhenOnlyAddressesChange() throws {
        let base = try PolicyConfiguration.parse(Self.policy, file: "p.toml")
        let old = NftPolicy(defaults: base.defaults, peers: base.peers)
        let live = PeerDefinition(name: "live", match: [try IPPrefix(parsing: "10.1.2.0/24")], ceiling: .fixed(Ceilings(ipv4: 1234, ipv6: 1214)))
        let new = NftPolicy(defaults: base.defaults, peers: base.peers + [live])
        let update = try #require(new.elementUpdate(from: old, table: "t", counter: "clamped"))
        #expect(update.contains("add chain inet t clamp_1234"))
        // Only what changed is sent: the range the new peer splits goes, its pieces come; nothing flushed.
        #expect(update.contains("add element inet t v4_peers {") && update.contains("10.1.2.0/24 : jump clamp_1234"), "\(update)")
        #expect(!update.contains("flush map") && !update.contains("flush set"), "\(update)")
        // Removing it again deletes its element and the chain no element jumps to any more.
        let back = try #require(old.elementUpdate(from: new, table: "t", counter: "clamped"))
        #expect(back.contains("delete element inet t v4_peers {") && back.contains("10.1.2.0/24"), "\(back)")
        #expect(back.contains("delete chain inet t clamp_1234"), "\(back)")
        #expect(!back.contains("10.1.2.0/24 : jump"), "\(back)")
        // Back and forth any number of times, the new ceiling's chain is emptied before its one rule.
        #expect(update.contains("flush chain inet t clamp_1234\nadd rule inet t clamp_1234"), "\(update)")
        let conditional = PeerDefinition(name: "c", match: [], outInterface: "ppp0", ceiling: .fixed(Ceilings(ipv4: 1400, ipv6: 1380)))
        #expect(NftPolicy(defaults: base.defaults, peers: base.peers + [conditional]).elementUpdate(from: old, table: "t", counter: "clamped") == nil)
    }

    /// The flattened map gives every address the longest-prefix match: checked against a linear scan.
    @Test func flatteningMatchesLongestPrefix() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var entries: [(range: ClosedRange<UInt128>, length: Int, owner: Int)] = []
            for owner in 0..<Int.random(in: 1...40, using: &generator) {
                // Real prefixes (they nest or are disjoint), clustered so that they often nest.
                let length = Int.random(in: 4...28, using: &generator)
                let address = UInt128(UInt32.random(in: 0...0x0fff_ffff, using: &generator))
                let size = UInt128(1) << (32 - length)
                let start = address / size * size
                entries.append((start...(start + size - 1), length, owner))
            }
            // Prefixes from a random set may coincide; keep the first of each range, as the policy refuses duplicates.
            var seen = Set<ClosedRange<UInt128>>()
            entries = entries.filter { seen.insert($0.range).inserted }
            let segments = NftPolicy.flatten(entries)
            // Disjoint and in order.
            for (a, b) in zip(segments, segments.dropFirst()) { #expect(a.range.upperBound < b.range.lowerBound) }
            var probes = (0..<200).map { _ in UInt128(UInt32.random(in: 0...0x0fff_ffff, using: &generator)) }
            for entry in entries { probes += [entry.range.lowerBound, entry.range.upperBound, entry.range.upperBound + 1] }
            for address in probes {
                let expected = entries.filter { $0.range.contains(address) }.max { $0.length < $1.length }?.owner
                let found = segments.first { $0.range.contains(address) }
                #expect(found?.owner == expected, "address \(address)")
            }
        }
    }

    /// The Android/IPsec rule from the field reports, and the rules an engineer would expect around it.
    static let save = """
        # Generated by iptables-save v1.8.9 (nf_tables) on Sun Nov 22 12:00:00 2026
        *mangle
        :PREROUTING ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        -A FORWARD -o eth0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1361:1536 -j TCPMSS --set-mss 1360
        -A FORWARD -s 10.8.0.0/24 -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1301:65535 -j TCPMSS --set-mss 1300
        -A FORWARD -s 10.9.0.0/24 -m policy --dir in --pol ipsec -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1350
        -A FORWARD -o ppp0 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu
        -A FORWARD ! -s 192.0.2.0/24 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1400
        -A FORWARD -o tun+ -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1380
        -A POSTROUTING -p tcp -m tcp --tcp-flags SYN,RST SYN -m conntrack --ctstate NEW -j TCPMSS --set-mss 1420
        -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1440
        COMMIT
        # Generated by ip6tables-save v1.8.9 (nf_tables) on Sun Nov 22 12:00:00 2026
        *mangle
        -A FORWARD -s 2001:db8:8::/64 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1280
        COMMIT
        """

    @Test func importTranslatesWhatItCanAndSaysWhyNot() throws {
        let result = TCPMSSImport.translate(Self.save, source: "save.txt")
        #expect(result.translated.map(\.rule.line) == [5, 6, 7, 12, 16])
        #expect(Dictionary(uniqueKeysWithValues: result.untranslated.map { ($0.rule.line, $0.reason) }).keys.sorted() == [8, 9, 10, 11])
        let reasons = result.untranslated.map(\.reason).joined(separator: "\n")
        #expect(reasons.contains("--clamp-mss-to-pmtu"))
        #expect(reasons.contains("negated match"))
        #expect(reasons.contains("interface wildcard tun+"))
        #expect(reasons.contains("-m conntrack"))
        let android = try #require(result.translated.first { $0.rule.line == 5 })
        #expect(android.notes.contains { $0.contains("left MSS above 1536 alone") })
        #expect(result.translated.first { $0.rule.line == 7 }?.notes.contains { $0.contains("-m policy") } == true)

        let configuration = try PolicyConfiguration.parse(result.policy, file: "imported.toml")
        #expect(configuration.defaults == Ceilings(ipv4: 1440, ipv6: nil))
        let peers = Dictionary(uniqueKeysWithValues: configuration.peers.map { ($0.name, $0) })
        #expect(peers["imported-v4-line5"]?.outInterface == "eth0")
        #expect(peers["imported-v4-line5"]?.ceiling == .fixed(Ceilings(ipv4: 1360, ipv6: nil)))
        #expect(peers["imported-v4-line6"]?.match.map(\.description) == ["10.8.0.0/24"])
        #expect(peers["imported-v6-line16"]?.ceiling == .fixed(Ceilings(ipv4: nil, ipv6: 1280)))
        #expect(peers["imported-v6-line16"]?.match.map(\.description) == ["2001:db8:8::/64"])
        #expect(result.policy.contains("# line 5: -A FORWARD -o eth0"))
    }

    @Test func verifyListsWhatDiffers() {
        // As iptables-save prints an installed chain.
        let wanted = (["*mangle", ":MSSCLAMP - [0:0]", "-A FORWARD -j MSSCLAMP"]
            + IptablesRules.chainRules(spec, family: .ipv4) + ["COMMIT"]).joined(separator: "\n") + "\n"
        let installed = IptablesRules.Installed(parsing: wanted, chain: "MSSCLAMP")
        #expect(IptablesRules.differences(spec, family: .ipv4, installed: installed).isEmpty)
        let tampered = IptablesRules.Installed(
            parsing: wanted.replacingOccurrences(of: "--queue-num 0", with: "--queue-num 7")
                .replacingOccurrences(of: "-A FORWARD -j MSSCLAMP\n", with: ""), chain: "MSSCLAMP")
        let differences = IptablesRules.differences(spec, family: .ipv4, installed: tampered)
        #expect(differences.contains { $0.hasPrefix("ipv4: missing rule:") && $0.contains("--queue-num 0") })
        #expect(differences.contains { $0.hasPrefix("ipv4: unexpected rule:") && $0.contains("--queue-num 7") })
        #expect(differences.contains("ipv4: missing jump: -A FORWARD -j MSSCLAMP"))
        let gone = IptablesRules.Installed(parsing: "*mangle\nCOMMIT\n", chain: "MSSCLAMP")
        #expect(IptablesRules.differences(spec, family: .ipv4, installed: gone).first == "ipv4: chain MSSCLAMP is missing from the mangle table")
    }
}
