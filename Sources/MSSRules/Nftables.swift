import Foundation
import MSSPolicy

/// nftables rendering: `table inet mssclamp` queueing every SYN and SYN/ACK, as the iptables rules do, with
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

    /// The queue backend: the same SYNs the iptables rules queue (every one, see `IptablesRules`).
    public static func queueScript(_ spec: RuleSpec) -> String {
        var rules: [String] = []
        let names = spec.interfaces.map { "\"\($0)\"" }.joined(separator: ", ")
        let scopes = spec.interfaces.isEmpty ? [""] : [" iifname { \(names) }", " oifname { \(names) }"]
        for (family, lowest) in [("ipv4", spec.lowest.ipv4), ("ipv6", spec.lowest.ipv6)] {
            guard lowest != nil else { continue }
            for scope in scopes { rules.append("\(syn) meta nfproto \(family)\(scope) counter \(queueTarget(spec))") }
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

    /// The kernel-only table of the `nft-map` backend, and what it leaves to the daemon.
    public struct MapCompilation: Sendable {
        public var script: String
        /// Policy features that take no effect in the kernel maps (printed with `rules show`).
        public var notOffloaded: [String]
    }

    /// The whole policy compiled into `table inet mssclamp` (see `NftPolicy` for how the semantics carry
    /// over), for hosts that want the kernel alone to clamp.
    public static func mapScript(_ configuration: PolicyConfiguration, hooks: [Hook]) -> MapCompilation {
        let policy = NftPolicy(defaults: configuration.defaults, peers: configuration.peers)
        var notes = [
            "SYNs without an MSS option pass unchanged: nftables cannot insert an option (the daemon does)",
            "only the first MSS option of a SYN is clamped (nft's tcp option maxseg); the daemon clamps every one the receiver reads",
            "no per-outcome or per-peer counters (only `nft list counter inet \(table) clamped`)",
            "live peers (`mssclamp peer add`) need the daemon; rerun `rules apply` after editing the file",
        ]
        if configuration.dropMalformed { notes.append("malformed = \"drop\" is not offloaded: malformed SYNs pass") }
        return MapCompilation(
            script: policy.script(table: table, hooks: hooks, priority: "mangle", counter: "clamped"), notOffloaded: notes)
    }
}

/// The kernel safety net behind the NFQUEUE rules: the whole policy in nft maps, in a hook after the
/// queue, so SYNs that user space could not take (no daemon, a restart, a full queue with fail-open) are
/// still clamped to their peer's ceiling, and counted.
public enum SafetyNet {
    public static let counter = "clamped"
    /// After the iptables mangle table (priority -150), where NFQUEUE hands the SYNs to the daemon: a
    /// SYN the daemon clamped passes unchanged, one that skipped the queue is clamped here.
    public static let priority = "mangle + 10"

    /// The net of `spec`'s instance: its hooks, and its scope (a scoped instance's net clamps only what
    /// enters or leaves through its interfaces, and leaves other instances' traffic to them).
    public static func script(_ policy: NftPolicy, spec: RuleSpec) -> String {
        policy.script(table: spec.instance.netTable, hooks: spec.hooks, priority: priority, counter: counter, scope: spec.interfaces)
    }

    /// SYNs the net lowered since it was installed, from `nft list counter`; nil when there is no net.
    public static func clampedCount(instance: Instance) -> UInt64? {
        guard let result = try? ToolRunner.run(["nft", "list", "counter", "inet", instance.netTable, counter], timeout: 5),
            result.status == 0
        else { return nil }
        for line in result.output.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let index = words.firstIndex(of: "packets"), index + 1 < words.count { return UInt64(words[index + 1]) }
        }
        return nil
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
    /// The `inet` table this backend owns.
    public let table: String

    public init(table: String = NftablesRules.table) { self.table = table }

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
        let transaction = "table inet \(table)\ndelete table inet \(table)\n" + script
        try run(transaction)
    }

    /// Runs an nft transaction (`nft -f -`): all of it or nothing.
    public func run(_ transaction: String) throws(RuleError) {
        let result = try ToolRunner.run(["nft", "-f", "-"], input: transaction)
        guard result.status == 0 else {
            throw RuleError("nft refused the rules (nothing was changed): \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: 69)
        }
    }

    public func remove() throws(RuleError) {
        guard try installedListing() != nil else { return }
        let result = try ToolRunner.run(["nft", "delete", "table", "inet", table])
        guard result.status == 0 else { throw RuleError("nft could not delete the table: \(result.error)") }
    }

    /// `nft list table inet TABLE` with counters zeroed, or nil when there is no such table.
    public func installedListing() throws(RuleError) -> String? {
        let result = try ToolRunner.run(["nft", "list", "table", "inet", table])
        guard result.status == 0 else { return nil }
        return Self.normalized(result.output)
    }

    /// How nft itself prints `script`: loaded into a private, empty network namespace and listed back.
    public func canonical(_ script: String) throws(RuleError) -> String {
        let result = try ToolRunner.run(
            ["unshare", "--net", "sh", "-c", "nft -f - && nft list table inet \(table)"], input: script)
        guard result.status == 0 else {
            throw RuleError("nft refused the rules: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: 69)
        }
        return Self.normalized(result.output)
    }

    static func normalized(_ listing: String) -> String {
        listing.replacingOccurrences(of: #"counter packets \d+ bytes \d+"#, with: "counter", options: .regularExpression)
            .replacingOccurrences(of: #"packets \d+ bytes \d+"#, with: "packets bytes", options: .regularExpression)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: "\n")
    }

    /// Differences between the installed table and `script` ("missing: ...", "unexpected: ...").
    public func verify(_ script: String) throws(RuleError) -> [String] {
        try differences(fromCanonical: try canonical(script))
    }

    /// Differences between the installed table and a listing `canonical` made earlier (a watcher that
    /// checks often need not load the script into a namespace each time).
    public func differences(fromCanonical expected: String) throws(RuleError) -> [String] {
        guard let installed = try installedListing() else {
            return ["table inet \(table) is missing"]
        }
        return tableDifferences(expected: expected, installed: installed)
    }
}

/// Differences between two listings of one table, object by object (chain, map, set, counter): the order
/// of the objects is nft's order of creation and means nothing (a chain added by an element update
/// lists after the others), the order of the lines inside each is compared.
func tableDifferences(expected: String, installed: String) -> [String] {
    let want = tableObjects(expected)
    let have = tableObjects(installed)
    var differences: [String] = []
    for (header, lines) in want.objects {
        guard let present = have.objects.first(where: { $0.header == header }) else {
            differences.append("missing: \(header)")
            continue
        }
        differences += lineDifferences(expected: lines.joined(separator: "\n"), installed: present.lines.joined(separator: "\n"))
            .map { "\(header.dropLast(2)): \($0)" }
    }
    for (header, _) in have.objects where !want.objects.contains(where: { $0.header == header }) {
        differences.append("unexpected: \(header)")
    }
    if want.header != have.header { differences.append("table: expected \(want.header), found \(have.header)") }
    return differences
}

/// A normalized table listing split into its objects: "chain forward {" with the lines up to its "}".
func tableObjects(_ listing: String) -> (header: String, objects: [(header: String, lines: [String])]) {
    var lines = listing.split(separator: "\n").map(String.init)
    let header = lines.isEmpty ? "" : lines.removeFirst()
    var objects: [(header: String, lines: [String])] = []
    var open: (header: String, lines: [String])?
    for line in lines {
        if open == nil {
            if line.hasSuffix(" {") { open = (line, []) }
            continue  // the table's closing brace
        }
        if line == "}" {
            objects.append(open!)
            open = nil
        } else {
            open!.lines.append(line)
        }
    }
    if let open { objects.append(open) }
    return (header, objects)
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
