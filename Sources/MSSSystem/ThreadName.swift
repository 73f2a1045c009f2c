#if canImport(Glibc)
    import Glibc
#endif

/// The calling thread's name, as `ps -L`, `top -H` and /proc/PID/task/TID/comm show it.
public enum ThreadName {
    /// The kernel keeps 15 bytes of a thread's name.
    public static let maximumBytes = 15

    /// Names the calling thread through /proc/thread-self/comm (what pthread_setname_np does for the calling
    /// thread, which Swift does not import; a thread may always rename itself). Longer names are cut.
    public static func setCurrent(_ name: String) throws(SystemCallError) {
        let fd = try retryingEINTR(.threadName) { open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(maximumBytes))
        _ = try retryingEINTR(.threadName) { bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
    }
}
