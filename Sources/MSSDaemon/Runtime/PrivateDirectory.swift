#if canImport(Glibc)
    import Glibc
#endif

/// A directory whose contents only root (or the daemon's own uid at start) can have put there: the
/// control socket and the learned-peers file live in one. Another user who could write to it could plant
/// a `.learned` file the daemon would trust at start, or a listening socket that keeps it from starting.
enum PrivateDirectory {
    /// Why `directory` is not private, or nil when it is: it must be owned by root or `owner`, and writable
    /// by nobody else; each directory above it must be owned likewise and not writable by others unless
    /// sticky (as /tmp is: nobody else can rename what root made there).
    static func refusal(_ directory: String, owner: uid_t = geteuid()) -> String? {
        // Links resolved first (/var/run is one): what is checked is where the socket really lives.
        guard let resolved = realpath(directory, nil) else { return "\(directory): \(String(cString: strerror(errno)))" }
        var path = String(cString: resolved)
        free(resolved)
        var first = true
        while true {
            var info = stat()
            guard lstat(path, &info) == 0 else { return "\(path): \(String(cString: strerror(errno)))" }
            guard info.st_mode & S_IFMT == S_IFDIR else { return "\(path) is not a directory" }
            guard info.st_uid == 0 || info.st_uid == owner else { return "\(path) belongs to uid \(info.st_uid)" }
            let othersWrite = info.st_mode & (S_IWGRP | S_IWOTH) != 0
            if othersWrite && (first || info.st_mode & S_ISVTX == 0) {
                let mode = String(info.st_mode & 0o7777, radix: 8)
                return "\(path) (mode \(mode)) is writable by others\(first ? "" : " and not sticky")"
            }
            first = false
            if path == "/" { return nil }
            let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            path = parent.isEmpty ? "/" : parent
        }
    }
}
