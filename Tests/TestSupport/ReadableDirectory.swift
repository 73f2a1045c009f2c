import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A directory under /tmp that root owns and every user may enter and read but not write (0755): where a
/// test puts what a program run as another user (setpriv, a daemon's hook) must reach and must not
/// change. The caller removes it.
public enum ReadableDirectory {
    /// Creates `/tmp/PREFIX-UUID`.
    /// - Returns: its path.
    public static func make(prefix: String) throws -> String {
        let path = "/tmp/\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        chmod(path, 0o755)
        return path
    }
}
