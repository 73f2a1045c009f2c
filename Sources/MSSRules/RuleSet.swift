import MSSPolicy
import MSSWire

/// mssclamp's whole footprint in the firewall: the NFQUEUE rules (iptables/ip6tables, `MSSCLAMP` chain)
/// and, behind them, the kernel safety net (`table inet mssclamp_net`). `run --install-rules` and
/// `rules apply|verify|remove` all go through here.
public struct RuleSet: Sendable {
    public let iptables: IptablesBackend
    public let instance: Instance
    public let net: NftablesBackend

    public init(iptables: IptablesBackend, instance: Instance = .primary) {
        self.iptables = iptables
        self.instance = instance
        net = NftablesBackend(table: instance.netTable)
    }

    /// Installs the safety net (unless the spec leaves it out), then the NFQUEUE rules. A failed NFQUEUE
    /// apply rolls everything back, the net included. A net that cannot be installed (no nft, no
    /// nf_tables) does not stop the queue rules: it is reported in the returned notes.
    /// - Parameter deleting: rules to delete in the same iptables transaction (`rules import --replace`).
    /// - Returns: notes for the operator (what the net does, or why it is not there).
    @discardableResult
    public func apply(_ spec: RuleSpec, policy: NftPolicy, deleting: [IPFamily: [String]] = [:])
        throws(RuleError) -> [String]
    {
        var notes: [String] = []
        var previousNet: String?? = nil  // nil: untouched; .some(nil): there was none
        if spec.safetyNet {
            do {
                let before = try? net.installedRaw()
                try net.apply(SafetyNet.script(policy, spec: spec))
                previousNet = .some(before ?? nil)
            } catch {
                notes.append("safety net NOT installed: \(error.message)")
            }
        }
        do {
            try iptables.apply(spec, deleting: deleting)
        } catch {
            if case .some(let before) = previousNet {
                if let before { try? net.apply(before) } else { try? net.remove() }
            }
            throw error
        }
        return notes
    }

    /// Brings the net in line with `policy` after a policy change: element updates when only addresses
    /// and ceilings changed, a replacement of the table otherwise.
    public func updateNet(from old: NftPolicy?, to policy: NftPolicy, spec: RuleSpec) throws(RuleError) {
        if let old, let transaction = policy.elementUpdate(from: old, table: instance.netTable, counter: SafetyNet.counter) {
            // Refused when the kernel's elements are not what this daemon wrote last (someone changed
            // them): the whole table is written again instead.
            do { try net.run(transaction) } catch { try net.apply(SafetyNet.script(policy, spec: spec)) }
        } else {
            try net.apply(SafetyNet.script(policy, spec: spec))
        }
    }

    /// Removes the NFQUEUE rules, and the net unless `keepNet`.
    public func remove(keepNet: Bool = false) throws(RuleError) {
        try iptables.remove(chain: instance.chain)
        if !keepNet { try net.remove() }
    }

    /// The instances whose chain or net exists in this network namespace (any iptables family), by name:
    /// what `rules remove` points at when the one it was asked to remove has nothing installed.
    public func installedInstances() -> [String] {
        var names = Set<String>()
        for family in IPFamily.allCases {
            guard let save = try? ToolRunner.run([iptables.variant.tool(family, "save"), "-t", "mangle"]), save.status == 0 else { continue }
            for line in save.output.split(separator: "\n") where line.hasPrefix(":MSSCLAMP") {
                let chain = line.dropFirst().prefix { $0 != " " }
                names.insert(chain == "MSSCLAMP" ? "0" : String(chain.dropFirst("MSSCLAMP-".count)))
            }
        }
        if let tables = try? ToolRunner.run(["nft", "list", "tables", "inet"]), tables.status == 0 {
            for line in tables.output.split(separator: "\n") {
                guard let table = line.split(separator: " ").last, table.hasPrefix("mssclamp_net") else { continue }
                // Table names turn "-" into "_": a chain of the same instance already named it exactly.
                let name = table == "mssclamp_net" ? "0" : String(table.dropFirst("mssclamp_net_".count))
                if !names.contains(where: { String($0.map { $0 == "-" ? "_" : $0 }) == name }) { names.insert(name) }
            }
        }
        return names.sorted()
    }

    /// What differs from `spec` and `policy`: the NFQUEUE rules, then the net.
    public func verify(_ spec: RuleSpec, policy: NftPolicy) throws(RuleError) -> [String] {
        try verify(spec, netScript: SafetyNet.script(policy, spec: spec))
    }

    /// The same, with the net's script given (a running daemon's, which knows its live and learned
    /// peers).
    public func verify(_ spec: RuleSpec, netScript: String) throws(RuleError) -> [String] {
        var differences = try iptables.verify(spec)
        if spec.safetyNet {
            differences += try net.verify(netScript).map { "safety net: \($0)" }
        }
        return differences
    }
}

extension NftablesBackend {
    /// `nft list table inet TABLE` as nft prints it (counters included), nil when there is none: what a
    /// rollback reinstalls.
    func installedRaw() throws(RuleError) -> String? {
        let result = try ToolRunner.run(["nft", "list", "table", "inet", table])
        return result.status == 0 ? result.output : nil
    }
}

extension NftPolicy {
    /// The policy in force: a snapshot's defaults and peers (live peers included).
    public init(snapshot: PolicySnapshot) {
        self.init(defaults: snapshot.defaults, peers: snapshot.definitions)
    }
}
