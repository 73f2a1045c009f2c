#if canImport(Glibc)
    import Glibc
#endif

/// A program left running in the background, its output going to a file: the daemon under
/// `mssclamp bench`, and the servers tests start. It runs in its own process group, so `kill` reaches
/// whatever it started too, and nothing of the caller's is inherited, so a grandchild cannot make
/// waiting for it hang.
public final class BackgroundChild: @unchecked Sendable {
    public let pid: pid_t
    private var status: Int32?

    /// Starts `arguments` (found like `ChildProcess.run` finds it) with standard output and error
    /// appended to `outputPath`, standard input /dev/null.
    public init(_ arguments: [String], outputPath: String) throws(ChildFailure) {
        precondition(!arguments.isEmpty, "BackgroundChild needs a program")
        let name = arguments[0]
        guard let executable = ChildProcess.locate(name) else { throw .notFound(name) }
        do {
            pid = try ChildSpawn.start(executable, arguments: arguments) { actions in
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
                posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
                posix_spawn_file_actions_adddup2(&actions, 1, 2)
            }
        } catch {
            throw .spawn(name, call: "posix_spawn", errno: error.code)
        }
    }

    /// True until the program has exited (and been reaped).
    public var isRunning: Bool { exitStatus == nil }

    /// The exit status (128 + signal when a signal ended it), nil while it runs.
    public var exitStatus: Int32? {
        if let status { return status }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        guard result == pid else { return result < 0 ? -1 : nil }
        status = ChildSpawn.exitStatus(raw)
        return status
    }

    /// Sends `signal` to the program alone.
    public func signal(_ signal: Int32) { if isRunning { kill(pid, signal) } }

    /// Sends `signal` to the program and everything in its process group.
    public func signalGroup(_ signal: Int32) {
        kill(-pid, signal)
        kill(pid, signal)
    }

    /// Waits up to `seconds` for the exit; the status, or nil if it still runs.
    public func wait(seconds: Double) -> Int32? {
        let deadline = Deadline(seconds: seconds)
        while deadline.remainingMilliseconds > 0 {
            if let status = exitStatus { return status }
            usleep(5_000)
        }
        return exitStatus
    }
}
