import Foundation
import MSSPolicy

/// nftables rendering: `table inet mssclamp` with the same prefilter as the iptables rules and
/// `queue ... bypass` (needs CONFIG_NFT_QUEUE), or, for `nft-map`, the whole policy compiled into interval
/// verdict maps so the kernel clamps per peer with no user space at all.
public enum NftablesRules {
    public static let table = "mssclamp"

    /// The base chain declaration for a hook (route type for output, so a changed packet is re-routed).
    static func baseChain(_ hook: Hook) -> String {
        let type = hook == .output ? "route" : "filter"
        return "type \(type) hook \(hook.rawValue) priority mangle; policy accept;"
    }

    static let syn = "tcp flags & (syn | rst) == syn"

    static func queueTarget(_ spec: RuleSpec) -> String {
        if spec.queues.count == 1 { return "queue num \(spec.queues.first) bypass" }
        return "queue num \(spec.queues.first)-\(spec.queues.last) \(spec.cpuFanout ? "bypass,fanout" : "bypass")"
    }

    /// The queue backend: the same SYNs the iptables rules queue.
    public static func queueScript(_ spec: RuleSpec) -> String {
        var rules: [String] = []
        for (family, lowest) in [("ipv4", spec.lowest.ipv4), ("ipv6", spec.lowest.ipv6)] {
            guard let lowest else { continue }
            rules.append("\(syn) meta nfproto \(family) tcp option maxseg size > \(lowest) counter \(queueTarget(spec))")
            if spec.insertMissing {
                rules.append("\(syn) meta nfproto \(family) tcp option maxseg missing counter \(queueTarget(spec))")
            }
        }
        var lines = ["table inet \(table) {"]
        for hook in spec.hooks {
            lines.append("\tchain \(hook.rawValue) {")
            lines.append("\t\t\(baseChain(hook))")
            lines += rules.map { "\t\t" + $0 }
            lines.append("\t}")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Why a policy cannot be compiled into nft maps, and what the maps leave out.
    public struct MapCompilation: Sendable {
        public var script: String
        /// Policy features that take no effect in the kernel maps (printed with `rules show`).
        public var notOffloaded: [String]
    }

    /// Compiles a policy whose peers are all static prefixes into nft interval verdict maps.
    ///
    /// Each prefix is flattened to disjoint address ranges carrying the longest-prefix match, and each
    /// range jumps to a chain per ceiling value that lowers the MSS only when it is above that value. The
    /// source lookup and the destination lookup run one after the other, so when both ends belong to
    /// different peers the second can only lower the MSS further: the lower ceiling wins, and an MSS is
    /// never raised. Packets whose addresses no peer claims get the defaults. This is the mssclamp
    /// semantics exactly; the plain `tcp option maxseg size set ip saddr map @peers4` form would raise an
    /// MSS below the peer's ceiling and let the second lookup overwrite the first.
    public static func mapScript(_ configuration: PolicyConfiguration, hooks: [Hook]) throws(RuleError) -> MapCompilation {
        let refused = configuration.peers.filter { $0.inInterface != nil || $0.outInterface != nil || $0.fwmark != nil }
        guard refused.isEmpty else {
            throw RuleError(
                "cannot compile into nft maps: peer(s) \(refused.map { "\"\($0.name)\"" }.joined(separator: ", ")) match on interfaces or marks; only address prefixes are offloaded (use --backend iptables with the daemon)",
                exitCode: 65)
        }
        var values: Set<UInt16> = []
        var body: [String] = []
        var baseRules: [String] = []
        for family in [IPFamilyName.ipv4, .ipv6] {
            var entries: [(range: ClosedRange<UInt128>, length: Int, ceiling: UInt16?)] = []
            for peer in configuration.peers {
                let ceiling = family == .ipv4 ? peer.ceiling.ceilings.ipv4 : peer.ceiling.ceilings.ipv6
                for prefix in peer.match {
                    guard let range = AddressRange(prefix), range.family == family else { continue }
                    entries.append((range.range, range.length, ceiling))
                }
            }
            let fallback = family == .ipv4 ? configuration.defaults.ipv4 : configuration.defaults.ipv6
            guard !entries.isEmpty || fallback != nil else { continue }
            let (map, claimed) = (family.prefix + "peers", family.prefix + "claimed")
            let segments = flatten(entries)
            var elements: [String] = []
            for segment in segments {
                let verdict: String
                if let ceiling = segment.value {
                    values.insert(ceiling)
                    verdict = "jump clamp_\(ceiling)"
                } else {
                    verdict = "continue"  // "none": no clamp from this side
                }
                elements.append("\(family.format(segment.range)) : \(verdict)")
            }
            let merged = merge(entries.map(\.range))
            body.append("\tmap \(map) {")
            body.append("\t\ttype \(family.nftType) : verdict")
            body.append("\t\tflags interval")
            if !elements.isEmpty { body.append("\t\telements = { " + elements.joined(separator: ",\n\t\t\t     ") + " }") }
            body.append("\t}")
            body.append("\tset \(claimed) {")
            body.append("\t\ttype \(family.nftType)")
            body.append("\t\tflags interval")
            if !merged.isEmpty { body.append("\t\telements = { " + merged.map(family.format).joined(separator: ", ") + " }") }
            body.append("\t}")
            let match = "\(syn) meta nfproto \(family.rawValue)"
            baseRules.append("\(match) \(family.address) saddr vmap @\(map)")
            baseRules.append("\(match) \(family.address) daddr vmap @\(map)")
            baseRules.append("\(match) \(family.address) saddr @\(claimed) return")
            baseRules.append("\(match) \(family.address) daddr @\(claimed) return")
            if let fallback {
                baseRules.append("\(match) tcp option maxseg size > \(fallback) tcp option maxseg size set \(fallback)")
            }
        }
        var lines = ["table inet \(table) {"]
        lines += body
        for value in values.sorted() {
            lines.append("\tchain clamp_\(value) {")
            lines.append("\t\ttcp option maxseg size > \(value) tcp option maxseg size set \(value)")
            lines.append("\t}")
        }
        for hook in hooks {
            lines.append("\tchain \(hook.rawValue) {")
            lines.append("\t\t\(baseChain(hook))")
            lines += baseRules.map { "\t\t" + $0 }
            lines.append("\t}")
        }
        lines.append("}")
        var notes = [
            "SYNs without an MSS option pass unchanged: nftables cannot insert an option (the daemon does)",
            "no per-outcome or per-peer counters (only `nft list table inet \(table)`)",
            "live peers (`mssclamp peer add`) need the daemon; rerun `rules apply` after editing the file",
        ]
        if configuration.dropMalformed { notes.append("malformed = \"drop\" is not offloaded: malformed SYNs pass") }
        return MapCompilation(script: lines.joined(separator: "\n") + "\n", notOffloaded: notes)
    }

    /// Disjoint ranges with the value of the longest prefix covering them (nil value: a "none" peer);
    /// adjacent ranges with the same value are merged. Addresses no prefix covers are left out.
    static func flatten(_ entries: [(range: ClosedRange<UInt128>, length: Int, ceiling: UInt16?)])
        -> [(range: ClosedRange<UInt128>, value: UInt16?)]
    {
        guard !entries.isEmpty else { return [] }
        // Elementary segments start at every prefix start and right after every prefix end.
        var points = Set<UInt128>()
        for entry in entries {
            points.insert(entry.range.lowerBound)
            if entry.range.upperBound < UInt128.max { points.insert(entry.range.upperBound + 1) }
        }
        let starts = points.sorted()
        let byLength = entries.sorted { $0.length > $1.length }
        var result: [(range: ClosedRange<UInt128>, value: UInt16?)] = []
        for (index, start) in starts.enumerated() {
            let end = index + 1 < starts.count ? starts[index + 1] - 1 : UInt128.max
            // Prefixes nest or are disjoint, so one that contains the start contains the whole segment.
            guard let owner = byLength.first(where: { $0.range.contains(start) }) else { continue }
            if let last = result.last, last.value == owner.ceiling, last.range.upperBound &+ 1 == start {
                result[result.count - 1].range = last.range.lowerBound...end
            } else {
                result.append((start...end, owner.ceiling))
            }
        }
        return result
    }

    /// The union of ranges as disjoint ranges.
    static func merge(_ ranges: [ClosedRange<UInt128>]) -> [ClosedRange<UInt128>] {
        var result: [ClosedRange<UInt128>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, last.upperBound == UInt128.max || range.lowerBound <= last.upperBound + 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }
}

enum IPFamilyName: String {
    case ipv4
    case ipv6

    var prefix: String { self == .ipv4 ? "v4_" : "v6_" }
    var nftType: String { self == .ipv4 ? "ipv4_addr" : "ipv6_addr" }
    var address: String { self == .ipv4 ? "ip" : "ip6" }

    /// "a.b.c.d/len" when the range is one prefix, "a-b" otherwise.
    func format(_ range: ClosedRange<UInt128>) -> String {
        let bits = self == .ipv4 ? 32 : 128
        let size = range.upperBound &- range.lowerBound &+ 1
        if size != 0, size & (size &- 1) == 0, range.lowerBound % size == 0 {
            let length = bits - size.trailingZeroBitCount
            return "\(text(range.lowerBound))/\(length)"
        }
        if size == 0 { return "\(text(0))/0" }  // the whole IPv6 space wraps the count
        return "\(text(range.lowerBound))-\(text(range.upperBound))"
    }

    func text(_ address: UInt128) -> String {
        if self == .ipv4 {
            let value = UInt32(truncatingIfNeeded: address)
            return "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
        }
        return (0..<8).map { String(UInt16(truncatingIfNeeded: address >> (112 - 16 * $0)), radix: 16) }
            .joined(separator: ":")
    }
}

/// A prefix as an address range in 128 bits (IPv4 in the low 32).
struct AddressRange {
    var family: IPFamilyName
    var range: ClosedRange<UInt128>
    var length: Int

    init?(_ prefix: IPPrefix) {
        switch prefix {
        case .v4(let p):
            let hostBits = 32 - p.length
            let start = UInt128(p.address)
            family = .ipv4
            range = start...(start | (hostBits == 0 ? 0 : (UInt128(1) << hostBits) - 1))
            length = p.length
        case .v6(let p):
            let hostBits = 128 - p.length
            family = .ipv6
            range = p.address...(p.address | (hostBits == 0 ? 0 : hostBits == 128 ? UInt128.max : (UInt128(1) << hostBits) - 1))
            length = p.length
        }
    }
}

/// Applies, removes and verifies `table inet mssclamp`.
public struct NftablesBackend: Sendable {
    public init() {}

    static let queueProbe = """
        table inet mssclamp_probe {
        \tchain probe {
        \t\ttype filter hook forward priority mangle; policy accept;
        \t\ttcp flags & (syn | rst) == syn queue num 0 bypass
        \t}
        }

        """

    /// Whether the kernel accepts the nft `queue` statement. The check runs in nft's check mode (the
    /// kernel validates the batch and it is aborted, nothing is installed). Kernels built without
    /// CONFIG_NFT_QUEUE refuse the expression with ENOENT ("No such file or directory").
    public static func queueSupported() throws(RuleError) -> Bool {
        let result = try ToolRunner.run(["nft", "-c", "-f", "-"], input: queueProbe)
        if result.status == 0 { return true }
        if result.error.contains("No such file or directory") { return false }
        throw RuleError("nft refused the probe rule: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: 69)
    }

    public static let noQueueMessage = """
        this kernel cannot run the nftables queue backend: the nft `queue` statement is refused with \
        "No such file or directory" because the kernel is built without CONFIG_NFT_QUEUE (nft_queue). \
        Use --backend iptables (its NFQUEUE target is xt_NFQUEUE, a separate module, and works with \
        iptables-nft), or --backend nft-map to clamp in the kernel without the daemon.
        """

    /// Replaces the table atomically (one nft transaction: declare, delete, recreate).
    public func apply(_ script: String) throws(RuleError) {
        let transaction = "table inet \(NftablesRules.table)\ndelete table inet \(NftablesRules.table)\n" + script
        let result = try ToolRunner.run(["nft", "-f", "-"], input: transaction)
        guard result.status == 0 else {
            throw RuleError("nft refused the rules (nothing was changed): \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: 69)
        }
    }

    public func remove() throws(RuleError) {
        guard try installedListing() != nil else { return }
        let result = try ToolRunner.run(["nft", "delete", "table", "inet", NftablesRules.table])
        guard result.status == 0 else { throw RuleError("nft could not delete the table: \(result.error)") }
    }

    /// `nft list table inet mssclamp` with counters zeroed, or nil when there is no such table.
    public func installedListing() throws(RuleError) -> String? {
        let result = try ToolRunner.run(["nft", "list", "table", "inet", NftablesRules.table])
        guard result.status == 0 else { return nil }
        return Self.normalized(result.output)
    }

    /// How nft itself prints `script`: loaded into a private, empty network namespace and listed back.
    public static func canonical(_ script: String) throws(RuleError) -> String {
        let result = try ToolRunner.run(
            ["unshare", "--net", "sh", "-c", "nft -f - && nft list table inet \(NftablesRules.table)"], input: script)
        guard result.status == 0 else {
            throw RuleError("nft refused the rules: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: 69)
        }
        return normalized(result.output)
    }

    static func normalized(_ listing: String) -> String {
        listing.replacingOccurrences(of: #"counter packets \d+ bytes \d+"#, with: "counter", options: .regularExpression)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: "\n")
    }

    /// Differences between the installed table and `script` ("missing: ...", "unexpected: ...").
    public func verify(_ script: String) throws(RuleError) -> [String] {
        let expected = try Self.canonical(script)
        guard let installed = try installedListing() else {
            return ["table inet \(NftablesRules.table) is missing"]
        }
        return lineDifferences(expected: expected, installed: installed)
    }
}

/// A line diff good enough for rule listings: what is missing and what is unexpected, in order.
func lineDifferences(expected: String, installed: String) -> [String] {
    let want = expected.split(separator: "\n").map(String.init)
    let have = installed.split(separator: "\n").map(String.init)
    var differences: [String] = []
    var remaining = have
    for line in want {
        if let index = remaining.firstIndex(of: line) { remaining.remove(at: index) } else { differences.append("missing: \(line)") }
    }
    differences += remaining.map { "unexpected: \($0)" }
    if differences.isEmpty && want != have { differences.append("the same lines in a different order") }
    return differences
}
