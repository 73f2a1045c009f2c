#if canImport(Glibc)
    import Glibc
#endif

/// Process-wide signal dispositions.
public enum ProcessSignals {
    /// Ignores SIGPIPE in the whole process: a client that hangs up, a closed stdout or a tool that exits
    /// early then turns a write into EPIPE, handled where it happens, never into the end of the daemon.
    /// Children get the default back (ChildProcess resets every signal).
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}
