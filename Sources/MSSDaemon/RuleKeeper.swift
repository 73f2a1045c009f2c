import Logging
import MSSPolicy
import MSSRules
import Synchronization

/// Owns the rules a daemon installed with `--install-rules`. Changes run one at a time under the
/// keeper's own lock, which nothing else takes: the iptables tools (which may take a while, or time out)
/// never run while a lock that a worker, the control server or the main loop needs is held.
final class RuleKeeper: Sendable {
    let backend: IptablesBackend
    private let logger: Logger
    /// The spec in force.
    private let current = Mutex<RuleSpec?>(nil)

    init(backend: IptablesBackend, logger: Logger) {
        self.backend = backend
        self.logger = logger
    }

    /// Installs the rules (at start, after the queues are bound and the workers run).
    func install(_ spec: RuleSpec) throws(RuleError) {
        try current.withLock { (current) throws(RuleError) in
            try backend.apply(spec)
            current = spec
        }
    }

    /// Brings the rules in line with `spec` after a policy change; returns a line for the log and the
    /// answer, or nil when nothing had to change.
    func update(to spec: RuleSpec) -> String? {
        current.withLock { (current) -> String? in
            guard let installed = current, installed != spec else { return nil }
            do throws(RuleError) {
                try backend.apply(spec)
                current = spec
                let line = "rules updated: MSS above \(describe(spec.lowest)) is queued"
                logger.info("\(line)")
                return line
            } catch {
                let line = "cannot update the rules for the new policy: \(error.message); the old rules stay (MSS above \(describe(installed.lowest)))"
                logger.error("\(line)")
                return line
            }
        }
    }

    /// Removes the rules this daemon installed (at stop).
    func remove() {
        current.withLock { current in
            guard let installed = current else { return }
            do throws(RuleError) {
                try backend.remove(chain: installed.chain)
                current = nil
                logger.info("rules removed")
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
