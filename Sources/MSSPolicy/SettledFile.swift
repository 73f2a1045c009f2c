#if canImport(Glibc)
    import Glibc
#endif

/// Reading a file that someone may be rewriting in place (configuration management writing a large
/// policy slowly): the read waits until the file has not changed for `quiet` milliseconds, and is done
/// again if the file changed while it was read. An atomic replacement (write a temporary, rename it
/// over) needs no wait at all; docs/configuration.md recommends it.
public enum SettledFile {
    /// What identifies one state of a file: a rewrite changes the size or the modification time, a
    /// replacement the inode.
    struct Stamp: Equatable {
        var inode: UInt64
        var size: Int64
        var modified: Int64  // nanoseconds since the epoch

        init?(_ path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        }
    }

    static func nowNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Waits until `path` has been still for `quiet` ms (at most `limit` ms in all), then returns
    /// `read(path)`'s result, read again whenever the file changed under it.
    /// - Returns: the result and how many milliseconds were spent waiting for the file to settle.
    public static func read<T, E: Error>(
        _ path: String, quiet: Int64 = 500, limit: Int64 = 30_000, _ read: (String) throws(E) -> T
    ) throws(E) -> (value: T, waited: Int64) {
        let start = nowNanoseconds()
        var waited: Int64 = 0
        while true {
            let before = Stamp(path)
            if let before {
                // Still being written: wait until the last write is `quiet` ms old.
                let age = (nowNanoseconds() - before.modified) / 1_000_000
                let elapsed = (nowNanoseconds() - start) / 1_000_000
                if age >= 0 && age < quiet && elapsed < limit {
                    let pause = min(quiet - age, limit - elapsed)
                    usleep(useconds_t(max(pause, 10) * 1000))
                    waited = (nowNanoseconds() - start) / 1_000_000
                    continue
                }
            }
            let value = try read(path)
            let elapsed = (nowNanoseconds() - start) / 1_000_000
            if let before, Stamp(path) != before, elapsed < limit { continue }  // changed while read
            return (value, waited)
        }
    }
}
