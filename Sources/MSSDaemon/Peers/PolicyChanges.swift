import Logging
import MSSPolicy
import MSSRules
import Synchronization

/// Every change to the running policy, whoever asks for it (SIGHUP, `mssclamp reload`, `peer add`): it
/// applies the change, keeps the rules and the queues' settings in step, logs it and counts it. Nothing
/// here holds a lock while the firewall tools run.
final class PolicyChanges: @unchecked Sendable {
    let policy: PolicyManager
    private let rules: RuleKeeper?
    private let logger: Logger
    private let ruleSpec: @Sendable (PolicySnapshot) -> RuleSpec
    private let applyQueueSettings: @Sendable (_ maxlen: UInt32, _ failOpen: Bool) -> Void
    /// Changes by result ("reload_ok", "reload_rejected", "peer_add", ...), for the metrics.
    private let counts = Mutex<[String: UInt64]>([:])
    /// Brings the kernel in line with the policy in force, once for any number of peer changes made
    /// meanwhile: a peer change is answered once its snapshot is in force for the workers, and the net
    /// follows within one kernel update, at most one every 200 ms (a few ms each, more for a large net),
    /// never one per change.
    private var kernelSync: CoalescedJob!

    init(
        policy: PolicyManager, rules: RuleKeeper?, logger: Logger,
        ruleSpec: @escaping @Sendable (PolicySnapshot) -> RuleSpec,
        applyQueueSettings: @escaping @Sendable (_ maxlen: UInt32, _ failOpen: Bool) -> Void
    ) {
        self.policy = policy
        self.rules = rules
        self.logger = logger
        self.ruleSpec = ruleSpec
        self.applyQueueSettings = applyQueueSettings
        kernelSync = CoalescedJob(minimumGap: 200) { [unowned self] in _ = syncKernel() }
    }

    /// Starts the kernel updates' thread (after the capability drop).
    func start() { kernelSync.start() }

    /// Lets a pending kernel update finish.
    func stop() { kernelSync.stop() }

    var changeCounts: [String: UInt64] { counts.withLock { $0 } }

    private func count(_ key: String) { counts.withLock { $0[key, default: 0] += 1 } }

    /// Rereads the policy file; a bad file is logged and the running policy stays.
    func reload(allowEmpty: Bool) -> ChangeResult {
        let reloaded: PolicyManager.Reloaded
        do {
            reloaded = try policy.reload(allowEmpty: allowEmpty)
        } catch {
            count("reload_rejected")
            for diagnostic in error.diagnostics { logger.error("\(diagnostic.description)") }
            logger.error("reload rejected; the running policy (version \(policy.store.currentVersion)) stays")
            return .failure(ChangeRefusal(error.description + "\nreload rejected; the running policy stays"))
        }
        count("reload_ok")
        let snapshot = reloaded.snapshot
        var lines = [
            "policy reloaded from \(policy.path ?? "-"): version \(snapshot.version), defaults \(snapshot.defaults), \(snapshot.peers.count) peer(s)"
        ]
        logger.info("\(lines[0])")
        lines += applySettings(from: reloaded.previous, to: reloaded.current)
        // A reload is answered with what the kernel got: the rules follow before the answer.
        warnMissingInterfaces(snapshot)
        lines += syncKernel()
        return .success(lines.joined(separator: "\n"))
    }

    /// The `[queue]`, `[control]` and `[defaults]` keys of a reload: applied where the running daemon
    /// can, named where only a restart can.
    private func applySettings(from old: PolicyConfiguration, to new: PolicyConfiguration) -> [String] {
        var lines: [String] = []
        if old.queue.failOpen != new.queue.failOpen || old.queue.maxlen != new.queue.maxlen {
            let failOpen = new.queue.failOpen ?? QueueDefaults.failOpen
            let maxlen = UInt32(new.queue.maxlen ?? QueueDefaults.maxlen)
            applyQueueSettings(maxlen, failOpen)
            let line = "queue settings applied: maxlen \(maxlen), fail-open \(failOpen ? "on" : "off")"
            logger.info("\(line)")
            lines.append(line)
        }
        var restart: [String] = []
        func compare<T: Equatable>(_ key: String, _ a: T?, _ b: T?, _ text: (T?) -> String) {
            if a != b { restart.append("\(key) (\(text(a)) -> \(text(b)))") }
        }
        compare("queue.num", old.queue.num, new.queue.num) { $0 ?? "default" }
        compare("queue.batch", old.queue.batch, new.queue.batch) { $0.map(String.init) ?? "default" }
        compare("queue.hooks", old.queue.hooks, new.queue.hooks) { $0?.joined(separator: ",") ?? "default" }
        compare("queue.interfaces", old.queue.interfaces, new.queue.interfaces) { $0?.joined(separator: ",") ?? "every SYN" }
        compare("queue.cpu_fanout", old.queue.cpuFanout, new.queue.cpuFanout) { $0.map { "\($0)" } ?? "default" }
        compare("control.socket", old.controlSocket, new.controlSocket) { $0 ?? "" }
        if !restart.isEmpty {
            let line = "needs a restart to take effect (the running values stay): \(restart.joined(separator: ", "))"
            logger.warning("\(line)")
            lines.append(line)
        }
        return lines
    }

    func addPeer(_ definition: PeerDefinition, replace: Bool) -> ChangeResult {
        liveChange("peer_add") { () throws(PolicyError) in
            let snapshot = try policy.add(definition, replace: replace)
            return (snapshot, "peer \"\(definition.name)\" added (live): \(definition.ceiling.summary); policy version \(snapshot.version)")
        }
    }

    /// A batch of peer changes, published together: one result each, in order, and the policy version
    /// they made (nil when none was applied).
    func batch(_ changes: [LiveChange]) -> (results: [Result<Void, ChangeRefusal>], version: UInt64?) {
        let outcomes = policy.change(changes)
        var version: UInt64 = 0
        let results = zip(changes, outcomes).map { change, outcome -> Result<Void, ChangeRefusal> in
            switch outcome {
            case .success(let snapshot):
                version = max(version, snapshot.version)
                count(change.isAdd ? "peer_add" : "peer_remove")
                return .success(())
            case .failure(let error):
                return .failure(ChangeRefusal(error.description))
            }
        }
        let done = results.filter { if case .success = $0 { true } else { false } }.count
        logger.info("batch: \(done) of \(changes.count) change(s) applied\(version > 0 ? "; policy version \(version)" : "")")
        if version > 0 { afterChange(policy.store.snapshot) }
        return (results, version > 0 ? version : nil)
    }

    func removePeer(_ name: String) -> ChangeResult {
        liveChange("peer_remove") { () throws(PolicyError) in
            let snapshot = try policy.remove(name: name)
            return (snapshot, "peer \"\(name)\" removed; policy version \(snapshot.version)")
        }
    }

    /// One live change: counted under `kind`, logged, followed by the rules; or the reason it was refused.
    private func liveChange(
        _ kind: String, _ apply: () throws(PolicyError) -> (snapshot: PolicySnapshot, message: String)
    ) -> ChangeResult {
        do throws(PolicyError) {
            let (snapshot, message) = try apply()
            count(kind)
            logger.info("\(message)")
            afterChange(snapshot)
            return .success(message)
        } catch {
            return .failure(ChangeRefusal(error.description))
        }
    }

    func save() -> ChangeResult {
        do {
            let count = try policy.save()
            let message = count == 0 ? "no live peers to save" : "\(count) live peer(s) appended to \(policy.path ?? "-"); they are file peers now"
            logger.info("\(message)")
            return .success(message)
        } catch {
            return .failure(ChangeRefusal(error.description))
        }
    }

    /// A template's peers changed (WireGuard, learn-address, a measured ceiling): the rules and the
    /// safety net follow, as for `peer add`.
    func sourcedChanged(_ snapshot: PolicySnapshot) {
        afterChange(snapshot)
    }

    /// Interface indexes changed (the main loop's periodic check).
    func interfacesChanged(_ snapshot: PolicySnapshot) {
        logger.info("interface indexes changed; policy version \(snapshot.version)")
        afterChange(snapshot)
    }

    /// A change is in force: the kernel follows (`kernelSync`).
    private func afterChange(_ snapshot: PolicySnapshot) {
        warnMissingInterfaces(snapshot)
        if rules != nil { kernelSync.request() }
    }

    /// Brings the rules and the net in line with the policy in force now, whichever change asked: none
    /// can put back an older policy over a newer one. Returns what it did, for the log and an answer.
    private func syncKernel() -> [String] {
        guard let rules else { return [] }
        let latest = policy.store.snapshot
        return rules.update(to: ruleSpec(latest), policy: NftPolicy(snapshot: latest), version: latest.version)
    }

    /// The safety net's script for the policy in force (what `rules verify` compares the kernel with
    /// while the daemon runs: its live and learned peers included); nil without `--install-rules`.
    func netScript() -> String? {
        guard let rules else { return nil }
        let snapshot = policy.store.snapshot
        return SafetyNet.script(NftPolicy(snapshot: snapshot), spec: ruleSpec(snapshot))
    }

    /// What the safety net holds for `address` (`RuleKeeper.netHolding`); nil without a net.
    func netHolding(_ address: IPPrefix) -> (table: String, version: UInt64, elements: [String])? {
        rules?.netHolding(address)
    }

    func warnMissingInterfaces(_ snapshot: PolicySnapshot) {
        for name in snapshot.missingInterfaces {
            logger.warning("interface \(name) does not exist (yet); peers naming it match nothing until it appears")
        }
    }
}

/// Why a policy change was refused, in words for whoever asked.
struct ChangeRefusal: Error, Sendable {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// What a policy change did (a line for people), or why it was refused.
typealias ChangeResult = Result<String, ChangeRefusal>
