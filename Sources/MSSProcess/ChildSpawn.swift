#if canImport(Glibc)
    import Glibc
#endif

/// The one posix_spawn call behind `ChildProcess` and the tests' background children: the child starts
/// with an empty signal mask, default actions for every signal (the daemon ignores SIGPIPE and blocks the
/// signals it waits for) and its own process group, so a timeout or a kill reaches whatever it started.
package enum ChildSpawn {
    /// Starts `executable` with `arguments` (`arguments[0]` is replaced by `executable`) and the standard
    /// streams that `fileActions` sets up.
    /// - Returns: the child's pid.
    /// - Throws: the errno posix_spawn returned.
    package static func start(
        _ executable: String, arguments: [String], fileActions: (inout posix_spawn_file_actions_t) -> Void
    ) throws(SpawnErrno) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        fileActions(&actions)

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
        let status = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard status == 0 else { throw SpawnErrno(code: status) }
        return pid
    }

    /// The exit status of a waitpid status word: the exit code, or 128 + the signal that ended the child.
    package static func exitStatus(_ status: Int32) -> Int32 {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
        status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

/// The errno of a failed posix_spawn.
package struct SpawnErrno: Error {
    package let code: Int32
}
