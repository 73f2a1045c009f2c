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

/// How a child process ended.
public struct ChildResult: Sendable, Hashable {
    /// The exit status, or 128 + the signal number when a signal ended it.
    public var status: Int32
    public var output: String
    public var error: String
    /// The child closed its input before reading all of it (EPIPE while writing): not an error by itself,
    /// since some tools read only what they need, but worth reporting when the status is not 0.
    public var inputCut: Bool

    public init(status: Int32, output: String, error: String, inputCut: Bool = false) {
        self.status = status
        self.output = output
        self.error = error
        self.inputCut = inputCut
    }
}

/// Why a child could not be run to the end.
public enum ChildFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The executable is not on PATH (nor in /usr/sbin, /sbin, /usr/bin, /bin).
    case notFound(String)
    /// A system call failed before the child ran (pipe, socketpair, posix_spawn).
    case spawn(String, call: String, errno: Int32)
    /// The child did not finish within the deadline and was killed.
    case timedOut(String, seconds: Double, error: String)

    public var description: String {
        switch self {
        case .notFound(let name):
            return "\(name) is not installed"
        case .spawn(let name, let call, let code):
            return "cannot run \(name): \(call): \(String(cString: strerror(code)))"
        case .timedOut(let name, let seconds, let error):
            let trimmed = error.split(separator: "\n").last.map(String.init) ?? ""
            return "\(name) did not finish within \(Self.format(seconds)) s and was killed"
                + (trimmed.isEmpty ? "" : " (last output: \(trimmed))")
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}

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
        var child = try Spawned(executable: executable, arguments: arguments, hasInput: input != nil, name: name)
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

/// A monotonic deadline.
struct Deadline {
    let end: timespec

    init(seconds: Double) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let whole = Int(seconds.rounded(.down))
        var nanoseconds = now.tv_nsec + Int((seconds - Double(whole)) * 1e9)
        var secondsPart = now.tv_sec + whole
        if nanoseconds >= 1_000_000_000 {
            nanoseconds -= 1_000_000_000
            secondsPart += 1
        }
        end = timespec(tv_sec: secondsPart, tv_nsec: nanoseconds)
        self.seconds = seconds
    }

    let seconds: Double

    /// Milliseconds left, at least 0.
    var remainingMilliseconds: Int32 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let left = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1_000_000
        return Int32(clamping: max(0, left))
    }
}

/// A started child and the parent's ends of its standard streams.
private struct Spawned {
    let pid: pid_t
    var input: Int32
    var output: Int32
    var error: Int32

    init(executable: String, arguments: [String], hasInput: Bool, name: String) throws(ChildFailure) {
        // Standard input: a socket pair, so the parent can write with MSG_NOSIGNAL.
        var inputPair: [Int32] = [-1, -1]
        var outputPipe: [Int32] = [-1, -1]
        var errorPipe: [Int32] = [-1, -1]
        func closeAll() {
            for fd in inputPair + outputPipe + errorPipe where fd >= 0 { close(fd) }
        }
        if hasInput {
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &inputPair) == 0 else {
                throw .spawn(name, call: "socketpair", errno: errno)
            }
        } else {
            let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard null >= 0 else { throw .spawn(name, call: "open /dev/null", errno: errno) }
            inputPair = [null, -1]
        }
        // Output and error are socket pairs as well: they can be made close-on-exec atomically (pipe2 is
        // not visible to Swift), so a child started by another thread at the same moment inherits none.
        for index in 0..<2 {
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                let code = errno
                closeAll()
                throw .spawn(name, call: "socketpair", errno: code)
            }
            // [0]: the parent reads, [1]: the child writes.
            if index == 0 { outputPipe = pair } else { errorPipe = pair }
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copies; the originals close at exec.
        posix_spawn_file_actions_adddup2(&actions, inputPair[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        // Default actions for every signal: the daemon ignores SIGPIPE and blocks the ones it waits for.
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // Its own process group, so a timeout kills whatever the child started too.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv[0] = strdup(executable)
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard status == 0 else {
            closeAll()
            throw .spawn(name, call: "posix_spawn", errno: status)
        }
        self.pid = pid
        // The parent keeps its ends only.
        close(inputPair[0])
        close(outputPipe[1])
        close(errorPipe[1])
        input = inputPair[1]
        output = outputPipe[0]
        error = errorPipe[0]
        for fd in [input, output, error] where fd >= 0 {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
    }

    /// Feeds the input, collects both outputs, and reaps the child, all before the deadline.
    mutating func communicate(input bytes: [UInt8], deadline: Deadline, name: String) throws(ChildFailure)
        -> ChildResult
    {
        var written = 0
        var inputCut = false
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        if input >= 0 && bytes.isEmpty {
            close(input)
            input = -1
        }
        var exitStatus: Int32? = nil
        // After the child exits, anything it started may hold the pipes open: read what is there, then
        // stop waiting for end-of-file.
        var graceAfterExit: Deadline? = nil
        while true {
            if exitStatus == nil { exitStatus = reap(blocking: false) }
            if exitStatus != nil && graceAfterExit == nil { graceAfterExit = Deadline(seconds: 0.2) }
            let open = input >= 0 || output >= 0 || error >= 0
            if !open, exitStatus != nil { break }
            if let grace = graceAfterExit, grace.remainingMilliseconds == 0 { break }
            let left = deadline.remainingMilliseconds
            if left == 0 {
                terminate()
                closeStreams()
                throw .timedOut(name, seconds: deadline.seconds, error: String(decoding: stderr, as: UTF8.self))
            }
            var fds: [pollfd] = []
            if input >= 0 { fds.append(pollfd(fd: input, events: Int16(POLLOUT), revents: 0)) }
            if output >= 0 { fds.append(pollfd(fd: output, events: Int16(POLLIN), revents: 0)) }
            if error >= 0 { fds.append(pollfd(fd: error, events: Int16(POLLIN), revents: 0)) }
            // Short sleeps while the child may have exited without closing its streams (or has none open).
            let wait = fds.isEmpty || exitStatus != nil ? min(left, 20) : min(left, 50)
            let ready = fds.isEmpty ? Int32(0) : poll(&fds, nfds_t(fds.count), wait)
            if fds.isEmpty { usleep(UInt32(wait) * 1000) }
            if ready < 0 && errno != EINTR {
                terminate()
                closeStreams()
                throw .spawn(name, call: "poll", errno: errno)
            }
            guard ready > 0 else { continue }
            for entry in fds where entry.revents != 0 {
                if entry.fd == input {
                    let result = bytes.withUnsafeBytes { raw in
                        send(input, raw.baseAddress! + written, raw.count - written, Int32(MSG_NOSIGNAL))
                    }
                    if result > 0 {
                        written += result
                        if written == bytes.count {
                            close(input)
                            input = -1
                        }
                    } else if result < 0 && (errno == EAGAIN || errno == EINTR) {
                        continue
                    } else {
                        // EPIPE or ECONNRESET: the child closed its input. Not a signal, a fact.
                        inputCut = true
                        close(input)
                        input = -1
                    }
                } else if entry.fd == output {
                    if !drain(output, into: &stdout) {
                        close(output)
                        output = -1
                    }
                } else if entry.fd == error {
                    if !drain(error, into: &stderr) {
                        close(error)
                        error = -1
                    }
                }
            }
        }
        closeStreams()
        let status = exitStatus ?? reap(blocking: true) ?? -1
        return ChildResult(
            status: status, output: String(decoding: stdout, as: UTF8.self),
            error: String(decoding: stderr, as: UTF8.self), inputCut: inputCut)
    }

    /// Reads what is available; false at end of file (or an error other than "try again").
    private func drain(_ fd: Int32, into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                if buffer.count < ChildProcess.outputLimit { buffer += chunk[0..<count] }
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EINTR) { return true }
            return false
        }
    }

    private mutating func closeStreams() {
        for fd in [input, output, error] where fd >= 0 { close(fd) }
        input = -1
        output = -1
        error = -1
    }

    /// The exit status once the child has exited; nil while it runs (non-blocking).
    private func reap(blocking: Bool) -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
            if result == pid { break }
            if result < 0 && errno == EINTR { continue }
            return result == 0 ? nil : -1
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }

    /// SIGTERM to the child's process group, SIGKILL a second later if it is still there, then reaped.
    private func terminate() {
        kill(-pid, SIGTERM)
        kill(pid, SIGTERM)
        for _ in 0..<50 {
            if reap(blocking: false) != nil {
                kill(-pid, SIGKILL)  // whatever it started
                return
            }
            usleep(20_000)
        }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        _ = reap(blocking: true)
    }
}

/// A program left running in the background, its output going to a file: for tests and tools that
/// start servers. It runs in its own process group, so `kill` reaches whatever it started too, and
/// nothing of the caller's is inherited, so a grandchild cannot make waiting for it hang.
public final class BackgroundChild: @unchecked Sendable {
    public let pid: pid_t
    private var status: Int32?

    /// Starts `arguments` (found like `ChildProcess.run` finds it) with standard output and error
    /// appended to `outputPath`, standard input /dev/null.
    public init(_ arguments: [String], outputPath: String) throws(ChildFailure) {
        precondition(!arguments.isEmpty, "BackgroundChild needs a program")
        let name = arguments[0]
        guard let executable = ChildProcess.locate(name) else { throw .notFound(name) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv[0] = strdup(executable)
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard result == 0 else { throw .spawn(name, call: "posix_spawn", errno: result) }
        self.pid = pid
    }

    /// True until the program has exited (and been reaped).
    public var isRunning: Bool { exitStatus == nil }

    /// The exit status (128 + signal when a signal ended it), nil while it runs.
    public var exitStatus: Int32? {
        if let status { return status }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        guard result == pid else { return result < 0 ? -1 : nil }
        status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
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
