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
        /// nft's own listing of that net as the kernel holds it right after this daemon wrote it, for the
        /// watcher: read back with `nft list`, which needs nothing but CAP_NET_ADMIN.
        var netListing: String?
        /// The policy version the rules and the net follow: an update for an older one is stale.
        var version: UInt64
    }

    /// Times the rules were found changed by someone else and put back.
    let restored = Atomic<UInt64>(0)

    private let current = Mutex<Installed?>(nil)

    init(rules: RuleSet, logger: Logger) {
        self.rules = rules
        self.logger = logger
    }

    var variant: IptablesVariant { rules.iptables.variant }

    /// Installs the net and the NFQUEUE rules (at start, after the queues are bound and the workers run).
    /// - Returns: whether the safety net is in place.
    @discardableResult
    func install(_ spec: RuleSpec, policy: NftPolicy, version: UInt64) throws(RuleError) -> Bool {
        try current.withLock { (current) throws(RuleError) -> Bool in
            // Every SYN queued until the daemon sheds; verification compares the exact sampling.
            var spec = spec
            spec.sampleShift = 0
            let notes = try rules.apply(spec, policy: policy)
            for note in notes { logger.warning("\(note)") }
            let net = spec.safetyNet && notes.isEmpty
            current = Installed(spec: spec, net: net ? policy : nil, netListing: net ? listing() : nil, version: version)
            return net
        }
    }

    /// Brings the rules in line with the policy of `version`; returns lines for the log and the answer.
    /// Changes published at once by several threads may arrive here in any order: one older than what is
    /// installed changes nothing (the newer policy it preceded is in force already).
    func update(to spec: RuleSpec, policy: NftPolicy, version: UInt64) -> [String] {
        current.withLock { (current) -> [String] in
            guard var installed = current, version > installed.version else { return [] }
            installed.version = version
            // The policy changes the ceilings; the shedding stays as it is.
            var spec = spec
            spec.sampleShift = installed.spec.sampleShift
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
                    try rules.updateNet(from: installed.net, to: policy, spec: spec)
                    installed.net = policy
                    installed.netListing = listing()
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

    /// The net as the kernel lists it now, just after this daemon wrote it: what later checks compare
    /// with. Read with `nft list` (no namespace of its own, so no capability the daemon dropped); nil
    /// when nft cannot list it (someone deleted it again in between), and the next check restores it.
    /// The net's elements that hold `address` as the kernel listed them after the last write, with the
    /// policy version written; nil when no net is installed.
    func netHolding(_ address: IPPrefix) -> (table: String, version: UInt64, elements: [String])? {
        current.withLock { current in
            guard let installed = current, installed.net != nil, let listing = installed.netListing else { return nil }
            return (rules.net.table, installed.version, NftListingLookup.elements(holding: address, in: listing))
        }
    }

    private func listing() -> String? {
        (try? rules.net.installedListing()) ?? nil
    }

    /// Queues 1 SYN in 2^shift from now on (`LoadShedding`; 0: every SYN).
    func setSampleShift(_ shift: Int) throws(RuleError) {
        try current.withLock { (current) throws(RuleError) in
            guard var installed = current else { return }
            var spec = installed.spec
            spec.sampleShift = shift
            try rules.iptables.apply(spec)
            installed.spec = spec
            current = installed
        }
    }

    /// Whether the safety net is in place (shedding needs it: a SYN that skips the queue must meet it).
    var hasNet: Bool { current.withLock { $0?.net != nil } }

    /// Looks for differences between what is installed and what this daemon installed (another tool
    /// flushed the mangle table, reloaded a firewall, ran `nft flush ruleset`), and puts everything back
    /// atomically. `restored` runs as soon as the rules are back in the kernel, before the net is listed
    /// again for later checks.
    func restoreIfChanged(restored onRestored: () -> Void) {
        current.withLock { current in
            guard var installed = current else { return }
            var differences = (try? rules.iptables.verify(installed.spec)) ?? []
            if let expected = installed.netListing {
                differences += ((try? rules.net.differences(fromCanonical: expected)) ?? []).map { "safety net: \($0)" }
            } else if installed.net != nil {
                // Taken away again between the last write and its listing: write it again, list it again.
                differences.append("safety net: not listed since it was last written (table inet \(rules.net.table) taken away meanwhile?)")
            }
            guard let first = differences.first else { return }
            do throws(RuleError) {
                let policy = installed.net ?? NftPolicy(defaults: Ceilings(ipv4: nil, ipv6: nil), peers: [])
                _ = try rules.apply(installed.spec, policy: policy)
                // Acted on, counted and said as soon as the rules are back, before the slower re-listing
                // of the net (an nft run in a scratch namespace).
                onRestored()
                restored.add(1, ordering: .relaxed)
                logger.warning("rules restored after an outside change (\(differences.count) difference(s), first: \(first))")
                if installed.net != nil { installed.netListing = listing() }
                current = installed
            } catch {
                logger.error("rules changed from outside (\(first)) and cannot be restored: \(error.message)")
            }
        }
    }

    /// Removes the NFQUEUE rules this daemon installed (at stop). The net stays: while no daemon runs,
    /// the kernel keeps clamping; `mssclamp rules remove` takes it out.
    func remove() {
        current.withLock { current in
            guard let installed = current else { return }
            do throws(RuleError) {
                try rules.remove(keepNet: true)
                current = nil
                logger.info(installed.net == nil ? "rules removed" : "rules removed; the safety net stays (`mssclamp rules remove` takes it out)")
            } catch {
                logger.error("cannot remove rules: \(error.message)")
            }
        }
    }
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
