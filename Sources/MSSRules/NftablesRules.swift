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
