import Logging
import MSSPolicy
import MSSQueue
import MSSRules
import MSSSystem
import Synchronization

/// The daemon's end of shedding: every 250 ms it reads how many SYNs entered its queues (the kernel's
/// packet ids, /proc/net/netfilter/nfnetlink_queue; while nothing is queued, the safety net's counter,
/// read with nft), asks `OverloadShedder`, and has the rule keeper change the jumps, on a thread of its
/// own (the firewall tools may take a while). Runs only where the safety net is in place: a SYN that
/// skips the queue must meet it.
final class LoadShedding: @unchecked Sendable {
    private let keeper: RuleKeeper
    private let queues: Set<UInt16>
    private let logger: Logger
    private let decision: Mutex<OverloadShedder>
    private var changes: JobQueue?
    private let inFlight = Atomic(false)
    /// Set when a change has been applied: the next check only takes a new baseline, since the counts
    /// since the last one mix the old sampling with the new.
    private let changed = Atomic(false)
    private var lastCheck: Int64 = 0
    private var lastIDs: [UInt16: UInt64] = [:]
    /// The net's count at the last check while shedding everything (used on the job thread only).
    private var lastNet: (count: UInt64, at: Int64)?
    private let instance: Instance
    private let rate: Double
    /// The shift in the rules now (0: every SYN queued).
    let shift = Atomic(0)
    /// Times shedding started.
    let episodes = Atomic<UInt64>(0)
    static let intervalMilliseconds: Int64 = 250

    init(keeper: RuleKeeper, queues: [UInt16], instance: Instance, rate: Int, burst: Int, logger: Logger) {
        self.keeper = keeper
        self.instance = instance
        self.queues = Set(queues)
        self.logger = logger
        let shedder = OverloadShedder(rate: rate, burst: burst)
        self.rate = shedder.rate
        decision = Mutex(shedder)
    }

    func start(now: Int64) {
        lastCheck = now
        lastIDs = currentIDs()
        changes = JobQueue(threads: 1)
    }

    /// Called by the main loop on each turn.
    func tick(now: Int64) {
        guard let changes, now - lastCheck >= Self.intervalMilliseconds else { return }
        let elapsed = now - lastCheck
        lastCheck = now
        let ids = currentIDs()
        var queued: UInt64 = 0
        for (queue, id) in ids {
            // The kernel's id is 32 bits and wraps.
            if let last = lastIDs[queue] { queued &+= UInt64(UInt32(truncatingIfNeeded: id &- last)) }
        }
        lastIDs = ids
        // While a change is being applied, and once right after, the counts mix two shifts: skip.
        guard !inFlight.load(ordering: .acquiring), !changed.exchange(false, ordering: .acquiringAndReleasing) else { return }
        let previous = shift.load(ordering: .relaxed)
        if previous == RuleSpec.shedAll {
            // Nothing is queued: the net's count says how many come (nft, so on the job thread).
            inFlight.store(true, ordering: .releasing)
            changes.async { [self] in
                defer { inFlight.store(false, ordering: .releasing) }
                guard let count = SafetyNet.clampedCount(instance: instance) else { return }
                let at = monotonicMilliseconds()
                defer { lastNet = (count, at) }
                guard let last = lastNet, at > last.at else { return }
                let elapsed = at - last.at
                let offered = Double(count &- last.count) * 1000 / Double(elapsed)
                guard let next = decision.withLock({ $0.observe(offered: offered, milliseconds: elapsed) }) else { return }
                apply(next, previous: previous, offered: offered)
            }
            return
        }
        let (change, offered) = decision.withLock { shedder in
            let offered = shedder.offered(queued: queued, milliseconds: elapsed)
            return (shedder.observe(offered: offered, milliseconds: elapsed), offered)
        }
        guard let next = change else { return }
        inFlight.store(true, ordering: .releasing)
        changes.async { [self] in
            defer { inFlight.store(false, ordering: .releasing) }
            apply(next, previous: previous, offered: offered)
        }
    }

    /// Has the keeper change the rules (on the job thread), logs, counts.
    private func apply(_ next: Int, previous: Int, offered: Double) {
        defer { changed.store(true, ordering: .releasing) }
        // Entering: the net's count starts anew.
        if next == RuleSpec.shedAll { lastNet = nil }
        do throws(RuleError) {
            try keeper.setSampleShift(next)
            shift.store(next, ordering: .relaxed)
            if previous == 0 { episodes.add(1, ordering: .relaxed) }
            let rate = Int(self.rate)
            if next == 0 {
                logger.notice("overload over: \(Int(offered)) SYN/s, every SYN is queued again")
            } else if next == RuleSpec.shedAll {
                logger.warning(
                    "overload: about \(Int(offered)) SYN/s, over \(Int(OverloadShedder.allAbove)) times the queue's rate \(rate): no SYN is queued, the kernel safety net clamps them all (counted as net_clamped)")
            } else if next < previous {
                logger.notice("overload easing: about \(Int(offered)) SYN/s: 1 SYN in \(1 << next) is queued, the kernel safety net clamps the rest")
            } else {
                logger.warning(
                    "overload: about \(Int(offered)) SYN/s, above the queue's rate \(rate): 1 SYN in \(1 << next) is queued, the kernel safety net clamps the rest (counted as net_clamped)")
            }
        } catch {
            decision.withLock { $0.revert(to: previous) }
            logger.error("cannot change the queue's jumps for the overload: \(error.message)")
        }
    }

    /// No more changes (the daemon is stopping); waits for one that is running.
    func stop() {
        changes?.stop()
        changes = nil
    }

    private func currentIDs() -> [UInt16: UInt64] {
        var ids: [UInt16: UInt64] = [:]
        for status in KernelQueueStatus.read() where queues.contains(status.queue) { ids[status.queue] = status.lastID }
        return ids
    }
}
