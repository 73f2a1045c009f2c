import MSSSystem
import Synchronization

/// Keeps the daemon's rules in place while it runs: nf_tables change notifications (iptables-nft, the
/// safety net) mark them for a check, and a periodic check covers what sends none (iptables-legacy every
/// second, otherwise every ten). Checks run on a thread of their own, one at a time: they run the
/// firewall tools, which the main loop must never wait for.
///
/// What else the daemon keeps in nf_tables (the black-hole sampler) is checked by the same thread,
/// after a notification or every ten seconds, never more often: `alsoKeep`.
final class RuleWatcher: @unchecked Sendable {
    private let keeper: RuleKeeper
    /// Checks of the daemon's other nf_tables state, each restoring what it finds missing; set before
    /// `start`.
    var alsoKeep: [@Sendable () -> Void] = []
    private var lastAlso: Int64 = 0
    private let events: NetlinkEvents?
    private var checks: JobQueue?
    private let dirty = Atomic(false)
    private let inFlight = Atomic(false)
    private let listStale = Atomic(false)
    private var lastCheck: Int64 = 0
    /// How long the last check took: the next one waits at least three times that (and 250 ms), so
    /// checking a large net (nft lists 100,000 elements slowly) never takes most of a core, whatever
    /// rate of change notifications comes in (the daemon's own updates send them too).
    private let lastLength = Atomic<Int64>(0)
    private let interval: Int64

    /// Subscribes now (before privileges are dropped); nothing runs until `start`.
    init(keeper: RuleKeeper) {
        self.keeper = keeper
        events = NetlinkEvents.nftables()
        interval = events == nil || keeper.variant == .legacy ? 1000 : 10_000
    }

    /// Starts the notification thread and the check thread (after the capability drop).
    func start(now: Int64) {
        lastCheck = now
        checks = JobQueue(threads: 1, background: true)
        events?.start { [self] in dirty.store(true, ordering: .releasing) }
    }

    /// Called by the main loop on each turn: starts a check when one is due and none is running.
    func tick(now: Int64) {
        guard let checks else { return }
        // A change noticed while a check runs stays noticed: the flag is taken only by a check that
        // starts, so an outside deletion during a restore is restored too, not left to the periodic check.
        let spacing = max(250, 3 * lastLength.load(ordering: .relaxed))
        guard dirty.load(ordering: .acquiring) || now - lastCheck >= interval, now - lastCheck >= spacing,
            inFlight.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        let notified = dirty.load(ordering: .acquiring)
        dirty.store(false, ordering: .releasing)
        lastCheck = now
        let also = notified || now - lastAlso >= 10_000 ? alsoKeep : []
        if !also.isEmpty { lastAlso = now }
        checks.async { [self] in
            let start = monotonicMilliseconds()
            // The restore recreated the liveness list: the main loop reopens it on its next turn.
            keeper.restoreIfChanged { listStale.store(true, ordering: .releasing) }
            for check in also { check() }
            lastLength.store(monotonicMilliseconds() - start, ordering: .relaxed)
            inFlight.store(false, ordering: .releasing)
        }
    }

    /// True once after a restore recreated the rules, and with them the liveness list: its file must be
    /// opened again.
    func takeLivenessListRecreated() -> Bool { listStale.exchange(false, ordering: .acquiringAndReleasing) }

    /// No more checks (the daemon is stopping); waits for one that is running.
    func stop() {
        events?.stop()
        checks?.stop()
        checks = nil
    }
}
