#if canImport(Glibc)
    import Glibc
#endif

/// The one way mssclamp writes a file (the daemon's state, `bench`'s reports): a temporary beside the target, created with
/// O_CREAT|O_EXCL|O_NOFOLLOW under a random name (so nothing planted there, a link least of all, is
/// written through), filled, fsynced, renamed over the target (which replaces a link rather than
/// following it), and the directory fsynced. A reader sees the old file or the new one, never half.
public enum AtomicFile {
    public struct Failure: Error, CustomStringConvertible {
        public var call: String
        public var path: String
        public var code: Int32
        public var description: String { "\(call) \(path): \(String(cString: strerror(code)))" }
    }

    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws(Failure) {
        let directory = directoryOf(path)
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<8 {
            temporary = "\(directory)/.\(baseName(path)).\(String(UInt64.random(in: 0...UInt64.max), radix: 36)).tmp"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw Failure(call: "open", path: temporary, code: errno) }
        func fail(_ call: String) -> Failure {
            let failure = Failure(call: call, path: temporary, code: errno)
            close(fd)
            unlink(temporary)
            return failure
        }
        // The mode is exact whatever the umask.
        guard fchmod(fd, mode) == 0 else { throw fail("fchmod") }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw fail("write") }
            written += count
        }
        guard fsync(fd) == 0 else { throw fail("fsync") }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw Failure(call: "rename", path: path, code: code)
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// Moves a file the daemon cannot use out of the way, to `PATH.corrupt-UNIXTIME`; returns the new
    /// name, or nil when it could not be moved.
    public static func keepAside(_ path: String) -> String? {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let aside = "\(path).corrupt-\(now.tv_sec)"
        return rename(path, aside) == 0 ? aside : nil
    }

    public static func directoryOf(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func baseName(_ path: String) -> String {
        path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    }
}
