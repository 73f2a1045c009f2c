#if canImport(Glibc)
    import Glibc
#endif

/// A started child and the parent's ends of its standard streams.
struct SpawnedChild {
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

        let pid: pid_t
        do {
            pid = try ChildSpawn.start(executable, arguments: arguments) { actions in
                // dup2 clears close-on-exec on the copies; the originals close at exec.
                posix_spawn_file_actions_adddup2(&actions, inputPair[0], 0)
                posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
                posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
            }
        } catch {
            closeAll()
            throw .spawn(name, call: "posix_spawn", errno: error.code)
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
        return ChildSpawn.exitStatus(status)
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
