import MSSPolicy
import MSSWire
import Testing

@testable import MSSRules

/// The kernel safety net as `nft -f` gets it: where it hooks in, what a scoped instance leaves to
/// others, and the address ranges it compiles the prefixes into.
@Suite("Safety net rendering")
struct SafetyNetRenderTests {
    /// A wide prefix with two nested ones at both of its ends: the part between them is a range of
    /// power-of-two size (2^17 addresses) that is not one prefix, since it does not start on a multiple
    /// of its size.
    static let policy = """
        [defaults]
        mss4 = 1400
        mss6 = 1380

        [[peer]]
        name = "wide"
        match = ["10.0.0.0/14"]
        mss = 1350

        [[peer]]
        name = "ends"
        match = ["10.0.0.0/16", "10.3.0.0/16"]
        mss = 1300
        """

    /// Instance "wg", scoped to wg0 and wg1, hooked into forward and output. Checked by hand: the net
    /// runs at mangle + 10, after the iptables mangle table (-150) whose NFQUEUE rule hands the SYNs to
    /// the daemon, so only SYNs the queue passed by are clamped here; output chains are of type route;
    /// SYNs neither entering nor leaving through wg0/wg1 are another instance's and return at once.
    @Test func goldenScopedNet() throws {
        let configuration = try PolicyConfiguration.parse(Self.policy, file: "p.toml")
        var spec = RuleSpec(
            queues: QueueRange(first: 0, last: 0), lowest: Ceilings(ipv4: 1300, ipv6: 1280), hooks: [.forward, .output],
            instance: try #require(Instance(name: "wg")))
        spec.interfaces = ["wg0", "wg1"]
        let policy = NftPolicy(defaults: configuration.defaults, peers: configuration.peers)
        let script = SafetyNet.script(policy, spec: spec)
        let base = [
            "\t\ttcp flags & (syn | rst) == syn iifname != { \"wg0\", \"wg1\" } oifname != { \"wg0\", \"wg1\" } return",
            "\t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 ip saddr vmap @v4_peers",
            "\t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 ip daddr vmap @v4_peers",
            "\t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 ip saddr @v4_claimed return",
            "\t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 ip daddr @v4_claimed return",
            "\t\ttcp flags & (syn | rst) == syn meta nfproto ipv4 tcp option maxseg size > 1400 counter name \"clamped\" tcp option maxseg size set 1400",
            "\t\ttcp flags & (syn | rst) == syn meta nfproto ipv6 tcp option maxseg size > 1380 counter name \"clamped\" tcp option maxseg size set 1380",
        ].joined(separator: "\n")
        #expect(script == """
            table inet mssclamp_net_wg {
            \tcounter clamped {
            \t}
            \tmap v4_peers {
            \t\ttype ipv4_addr : verdict
            \t\tflags interval
            \t\telements = { 10.0.0.0/16 : jump clamp_1300,
            \t\t\t     10.1.0.0-10.2.255.255 : jump clamp_1350,
            \t\t\t     10.3.0.0/16 : jump clamp_1300 }
            \t}
            \tset v4_claimed {
            \t\ttype ipv4_addr
            \t\tflags interval
            \t\telements = { 10.0.0.0/14 }
            \t}
            \tmap v6_peers {
            \t\ttype ipv6_addr : verdict
            \t\tflags interval
            \t}
            \tset v6_claimed {
            \t\ttype ipv6_addr
            \t\tflags interval
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
            \t\ttype filter hook forward priority mangle + 10; policy accept;
            \(base)
            \t}
            \tchain output {
            \t\ttype route hook output priority mangle + 10; policy accept;
            \(base)
            \t}
            }

            """)
    }

    /// An unscoped instance's net takes every SYN: no scope rule, the primary instance's table name.
    @Test func unscopedNetTakesEverySYN() {
        let spec = RuleSpec(queues: QueueRange(first: 0, last: 0), lowest: Ceilings(ipv4: 1360, ipv6: 1340))
        let script = SafetyNet.script(NftPolicy(defaults: Ceilings(ipv4: 1360, ipv6: 1340), peers: []), spec: spec)
        #expect(script.hasPrefix("table inet mssclamp_net {\n"))
        #expect(script.contains("\t\ttype filter hook forward priority mangle + 10; policy accept;\n"), "\(script)")
        #expect(!script.contains("ifname"), "\(script)")
    }

    /// A range is printed as a prefix only when it is one: its size a power of two and its start a
    /// multiple of that size.
    @Test(arguments: [
        (0x0a00_0000 as UInt128, 0x0a01_ffff as UInt128, "10.0.0.0/15"),
        (0x0a01_0000, 0x0a02_ffff, "10.1.0.0-10.2.255.255"),
        (0x0a00_0001, 0x0a00_0002, "10.0.0.1-10.0.0.2"),
        (0x0a00_0005, 0x0a00_0005, "10.0.0.5/32"),
        (0, 0xffff_ffff, "0.0.0.0/0"),
    ])
    func ipv4RangesArePrefixesOnlyWhenAligned(lower: UInt128, upper: UInt128, text: String) {
        #expect(IPFamily.ipv4.format(lower...upper) == text)
    }

    @Test func ipv6Ranges() {
        let base = UInt128(0x2001_0db8) << 96
        #expect(IPFamily.ipv6.format(base...(base | ((UInt128(1) << 96) - 1))) == "2001:db8:0:0:0:0:0:0/32")
        #expect(IPFamily.ipv6.format((base + 1)...(base + 2)) == "2001:db8:0:0:0:0:0:1-2001:db8:0:0:0:0:0:2")
        // The whole space: its size wraps to 0.
        #expect(IPFamily.ipv6.format(0...UInt128.max) == "0:0:0:0:0:0:0:0/0")
    }
}
