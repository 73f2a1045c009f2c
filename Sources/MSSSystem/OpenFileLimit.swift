#if canImport(Glibc)
    import Glibc
#endif

/// The process's limit on open files (RLIMIT_NOFILE).
public enum OpenFileLimit {
    /// Raises the soft limit to the hard one, at most `ceiling`; never lowers it.
    /// - Returns: the soft limit now in force.
    @discardableResult
    public static func raise(toAtMost ceiling: UInt64) throws(SystemCallError) -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            throw SystemCallError(.getrlimit, errno: errno)
        }
        let wanted = min(limit.rlim_max, rlim_t(ceiling))
        guard limit.rlim_cur < wanted else { return UInt64(limit.rlim_cur) }
        limit.rlim_cur = wanted
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            throw SystemCallError(.setrlimit, errno: errno)
        }
        return UInt64(wanted)
    }
}
