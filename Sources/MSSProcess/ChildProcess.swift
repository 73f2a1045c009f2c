#if canImport(Glibc)
    import Glibc
#endif

// The one place in mssclamp that starts other programs (iptables-restore, iptables-save, nft, unshare).
//
// Why not Foundation's Process: it needs a CFRunLoop wakeup socket, which cannot be created in a network
// namespace whose loopback is down, and then it never returns. It also raises SIGPIPE in the caller when
// a child exits without reading its input. This runner is posix_spawn + poll + waitpid:
// - the standard streams are Unix socket pairs; input is written with MSG_NOSIGNAL, so a child that exits early is an
//   EPIPE value, never a signal;
// - standard input, output and error are served together by one poll loop, so no pipe can fill up and
//   deadlock either side;
// - every call has a deadline; a child (and its process group) that outlives it is killed;
// - the child starts with an empty signal mask and default signal actions, whatever the daemon blocked
//   or ignored.

/// Runs a program to completion with input, output and a deadline. Safe from any thread.
public enum ChildProcess {
    /// Output beyond this many bytes per stream is read and discarded, so a runaway child cannot exhaust
    /// memory (iptables-save of a very large ruleset is far below it).
    public static let outputLimit = 256 << 20

    /// Runs `arguments[0]` (found on PATH or in the sbin directories) with `arguments[1...]`.
    /// - Parameters:
    ///   - input: written to the child's standard input, which is then closed; nil: /dev/null.
    ///   - timeout: seconds until the child's process group is sent SIGTERM, then SIGKILL a second later.
    /// - Throws: `ChildFailure`; a non-zero exit is a result, not an error.
    public static func run(_ arguments: [String], input: [UInt8]? = nil, timeout: Double = 30)
        throws(ChildFailure) -> ChildResult
    {
        precondition(!arguments.isEmpty, "ChildProcess.run needs a program")
        let name = arguments[0]
        guard let executable = locate(name) else { throw .notFound(name) }
        var child = try SpawnedChild(executable: executable, arguments: arguments, hasInput: input != nil, name: name)
        return try child.communicate(input: input ?? [], deadline: Deadline(seconds: timeout), name: name)
    }

    /// The full path of `name`: itself when it contains a slash, else the first executable on PATH, then
    /// in the system directories (a daemon started with a minimal PATH still finds iptables).
    public static func locate(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}
