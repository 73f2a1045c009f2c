import MSSSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A job that many events ask for and one run satisfies (bring the kernel in line with the policy in
/// force; publish the learned peers): asked any number of times while it waits, it runs once; asked
/// while it runs, it runs once more afterwards, so the last request is always served by a run that
/// started after it. Runs on a thread of its own, made by `start` (after the capability drop).
final class CoalescedJob: Sendable {
    private let requested = Atomic(false)
    private let queue = Mutex<JobQueue?>(nil)
    private let job: @Sendable () -> Void
    /// The least time from one run's end to the next one's start: requests meanwhile wait and share a
    /// run. Twice the last run's length when that is more: a job that gets slower with the size of what
    /// it handles (an nft run over 100,000 elements) never takes more than a third of a core.
    private let minimumGap: Int64
    private let lastEnd = Atomic<Int64>(0)
    private let lastLength = Atomic<Int64>(0)

    /// - Parameter minimumGap: milliseconds between two runs (0: none).
    init(minimumGap: Int64 = 0, _ job: @escaping @Sendable () -> Void) {
        self.minimumGap = minimumGap
        self.job = job
    }

    func start() { queue.withLock { $0 = $0 ?? JobQueue(threads: 1, background: true) } }

    /// Asks for a run. Before `start` (or after `stop`) the job runs here and now.
    func request() {
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let started = queue.withLock { queue -> Bool in
            guard let queue else { return false }
            queue.async { [self] in
                let gap = minimumGap == 0 ? 0 : max(minimumGap, 2 * lastLength.load(ordering: .relaxed))
                let wait = lastEnd.load(ordering: .relaxed) + gap - monotonicMilliseconds()
                if wait > 0 { usleep(useconds_t(min(wait, 10_000) * 1000)) }
                requested.store(false, ordering: .releasing)
                let start = monotonicMilliseconds()
                job()
                let end = monotonicMilliseconds()
                lastLength.store(end - start, ordering: .relaxed)
                lastEnd.store(end, ordering: .relaxed)
            }
            return true
        }
        if !started {
            requested.store(false, ordering: .releasing)
            job()
        }
    }

    /// Lets a pending run finish, then ends the thread.
    func stop() {
        let running = queue.withLock { queue -> JobQueue? in
            defer { queue = nil }
            return queue
        }
        running?.stop()
    }
}
