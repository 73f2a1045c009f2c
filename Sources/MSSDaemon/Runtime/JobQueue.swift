#if canImport(Glibc)
    import Glibc
#endif

/// Jobs run in order by a fixed set of threads of the daemon's own. Not Dispatch: its worker threads try
/// to raise their priority, which fails (and says so on stderr) once the daemon has dropped every
/// capability but CAP_NET_ADMIN, and they are created on demand, after the drop, in numbers the daemon
/// does not choose.
final class JobQueue: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var jobs: [@Sendable () -> Void] = []
    private var stopping = false
    private var threads: [NamedThread] = []

    /// - Parameters:
    ///   - threads: how many jobs may run at once (1: one after the other).
    ///   - background: run at a lower priority (nice 10, which needs no capability to set and cannot be
    ///     undone without one): upkeep that may take long (listing a large nft table, compiling a large
    ///     policy) gives way to the workers, the control socket's answers and the VPN's hooks.
    init(threads count: Int, background: Bool = false) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for _ in 0..<max(1, count) {
            threads.append(NamedThread { [self] in
                // Linux keeps the nice value per thread (who 0: this one); the tools it runs inherit it.
                if background { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10) }
                serve()
            })
        }
    }

    /// Queues a job.
    func async(_ job: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(&mutex)
        jobs.append(job)
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Lets the queued jobs finish, then ends the threads.
    func stop() {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        for thread in threads { thread.join() }
        threads.removeAll()
    }

    private func serve() {
        while true {
            pthread_mutex_lock(&mutex)
            while jobs.isEmpty && !stopping { pthread_cond_wait(&condition, &mutex) }
            if jobs.isEmpty {
                pthread_mutex_unlock(&mutex)
                return
            }
            let job = jobs.removeFirst()
            pthread_mutex_unlock(&mutex)
            job()
        }
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }
}
