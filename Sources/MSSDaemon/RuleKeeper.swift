import Logging
import MSSPolicy
import MSSRules
import Synchronization

/// Owns the rules a daemon installed with `--install-rules`: the NFQUEUE rules and the kernel safety net
/// behind them. Changes run one at a time under the keeper's own lock, which nothing else takes: the
/// firewall tools (which may take a while, or time out) never run while a lock that a worker, the
/// control server or the main loop needs is held.
final class RuleKeeper: Sendable {
    let rules: RuleSet
    private let logger: Logger

    private struct Installed {
        var spec: RuleSpec
        /// The net in force, nil when it could not be installed.
        var net: NftPolicy?
    }

    private let current = Mutex<Installed?>(nil)

    init(rules: RuleSet, logger: Logger) {
        self.rules = rules
        self.logger = logger
    }

    var variant: IptablesVariant { rules.iptables.variant }

    /// Installs the net and the NFQUEUE rules (at start, after the queues are bound and the workers run).
    /// - Returns: whether the safety net is in place.
    @discardableResult
    func install(_ spec: RuleSpec, policy: NftPolicy) throws(RuleError) -> Bool {
        try current.withLock { (current) throws(RuleError) -> Bool in
            let notes = try rules.apply(spec, policy: policy)
            for note in notes { logger.warning("\(note)") }
            let net = spec.safetyNet && notes.isEmpty
            current = Installed(spec: spec, net: net ? policy : nil)
            return net
        }
    }

    /// Brings the rules in line with a changed policy; returns lines for the log and the answer.
    func update(to spec: RuleSpec, policy: NftPolicy) -> [String] {
        current.withLock { (current) -> [String] in
            guard var installed = current else { return [] }
            var lines: [String] = []
            if !installed.spec.rendersLike(spec) {
                do throws(RuleError) {
                    try rules.iptables.apply(spec)
                    lines.append("rules updated: SYNs of \(describeFamilies(spec)) are queued")
                } catch {
                    lines.append("cannot update the rules for the new policy: \(error.message); the old rules stay")
                }
            }
            installed.spec = spec
            if spec.safetyNet, installed.net != policy {
                do throws(RuleError) {
                    try rules.updateNet(from: installed.net, to: policy, hooks: spec.hooks)
                    installed.net = policy
                    lines.append("safety net updated: \(policy.values.count) ceiling(s)")
                } catch {
                    lines.append("cannot update the safety net: \(error.message); it keeps the previous policy")
                }
            }
            current = installed
            for line in lines {
                if line.hasPrefix("cannot") { logger.error("\(line)") } else { logger.info("\(line)") }
            }
            return lines
        }
    }

    /// Removes the NFQUEUE rules this daemon installed (at stop). The net stays: while no daemon runs,
    /// the kernel keeps clamping; `mssclamp rules remove` takes it out.
    func remove() {
        current.withLock { current in
            guard let installed = current else { return }
            do throws(RuleError) {
                try rules.remove(chain: installed.spec.chain, keepNet: true)
                current = nil
                logger.info(installed.net == nil ? "rules removed" : "rules removed; the safety net stays (`mssclamp rules remove` takes it out)")
            } catch {
                logger.error("cannot remove rules: \(error.message)")
            }
        }
    }
}

/// "1360/1340" (IPv4/IPv6), "none" where a family is not clamped.
func describe(_ ceilings: Ceilings) -> String {
    "\(ceilings.ipv4.map(String.init) ?? "none")/\(ceilings.ipv6.map(String.init) ?? "none")"
}

/// "IPv4 and IPv6", "IPv4", "no family".
func describeFamilies(_ spec: RuleSpec) -> String {
    switch (spec.lowest.ipv4 != nil, spec.lowest.ipv6 != nil) {
    case (true, true): "IPv4 and IPv6"
    case (true, false): "IPv4"
    case (false, true): "IPv6"
    case (false, false): "no family"
    }
}
