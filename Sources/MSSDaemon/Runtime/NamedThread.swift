import MSSSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A named POSIX thread that can be joined: the queue workers, the log writer, the peer sources, the
/// link events, the probes, the job queues and the request servers all run on one.
final class NamedThread: @unchecked Sendable {
    private var thread = pthread_t()

    /// - Parameter name: the thread's name as `ps -L`, `top -H` and /proc/PID/task/TID/comm show it (the
    ///   kernel keeps 15 bytes); nil keeps the process's name.
    init(name: String? = nil, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            // A failure leaves the process's name.
            if let name = box.name { try? ThreadName.setCurrent(name) }
            box.body()
            return nil
        }, box)
        precondition(status == 0, "pthread_create failed: \(status)")
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
