#if canImport(Glibc)
    import Glibc
#endif

/// A POSIX thread that can be joined.
final class WorkerThread: @unchecked Sendable {
    private var thread = pthread_t()

    /// - Parameter name: the thread's name as `ps -L`, `top -H` and /proc/PID/task/TID/comm show it (the
    ///   kernel keeps 15 bytes); nil keeps the process's name.
    init(name: String? = nil, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            if let name = box.name { WorkerThread.nameCurrentThread(name) }
            box.body()
            return nil
        }, box)
        precondition(status == 0, "pthread_create failed: \(status)")
    }

    /// A thread may always rename itself through /proc/thread-self/comm (what pthread_setname_np does for
    /// the calling thread, which Swift does not import); a failure leaves the process's name.
    private static func nameCurrentThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func join() { pthread_join(thread, nil) }

    private final class Box {
        let name: String?
        let body: @Sendable () -> Void
        init(name: String?, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
