#if canImport(Glibc)
    import Glibc
#endif

/// Blocks the given signals in every thread (call before creating threads) and waits for them.
final class SignalWaiter {
    private var set = sigset_t()

    init(_ signals: [Int32]) {
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// The next signal, or 0 after the timeout.
    func wait(timeoutMilliseconds: Int) -> Int32 {
        var timeout = timespec(tv_sec: timeoutMilliseconds / 1000, tv_nsec: (timeoutMilliseconds % 1000) * 1_000_000)
        let signal = sigtimedwait(&set, nil, &timeout)
        return signal > 0 ? signal : 0
    }
}
