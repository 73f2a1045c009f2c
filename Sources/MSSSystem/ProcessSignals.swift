import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Set by the handler `noteInterrupts` installs.
private let interruptSeen = Atomic<Int32>(0)

/// Process-wide signal dispositions.
public enum ProcessSignals {
    /// Ignores SIGPIPE in the whole process: a client that hangs up, a closed stdout or a tool that exits
    /// early then turns a write into EPIPE, handled where it happens, never into the end of the daemon.
    /// Children get the default back (ChildProcess resets every signal).
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Makes SIGINT, SIGTERM and SIGHUP set `interrupted` instead of ending the process, so a long
    /// command (`mssclamp bench`, `mssclamp lab`) notices, tears down what it built and exits itself.
    public static func noteInterrupts() {
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number) { received in interruptSeen.store(received, ordering: .relaxed) }
        }
    }

    /// The signal `noteInterrupts` saw, or nil.
    public static var interrupted: Int32? {
        let seen = interruptSeen.load(ordering: .relaxed)
        return seen == 0 ? nil : seen
    }
}
