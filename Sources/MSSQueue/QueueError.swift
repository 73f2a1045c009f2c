#if canImport(Glibc)
    import Glibc
#endif

/// The system calls MSSQueue makes, named in errors.
public enum Syscall: String, Sendable, Hashable {
    case open = "socket(AF_NETLINK)"
    case bind = "bind"
    case setsockopt = "setsockopt"
    case configure = "NFQNL_MSG_CONFIG"
    case receive = "recvmmsg"
    case send = "send"
}

/// A failed system call with the errno read right after it, classified for the operator.
public struct QueueError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Needs root or CAP_NET_ADMIN.
        case permission
        /// Another process has bound the queue.
        case busy
        /// The kernel has no NFQUEUE (nfnetlink_queue) support.
        case unsupported
        /// Anything else.
        case failed
    }

    public var call: Syscall
    public var errno: Int32
    public var queue: UInt16?

    public init(_ call: Syscall, errno: Int32, queue: UInt16? = nil) {
        self.call = call
        self.errno = errno
        self.queue = queue
    }

    public var kind: Kind {
        switch errno {
        case EPERM, EACCES: .permission
        case EBUSY: .busy
        // nfnetlink answers a config for an absent subsystem with EINVAL, ENOENT or EOPNOTSUPP;
        // 524 is the kernel-internal ENOTSUPP that can leak to user space.
        case EINVAL, ENOENT, EOPNOTSUPP, EPROTONOSUPPORT, EAFNOSUPPORT, 524: .unsupported
        default: .failed
        }
    }

    public var description: String {
        let queueText = queue.map { "queue \($0)" } ?? "NFQUEUE"
        let reason = String(cString: strerror(errno))
        switch kind {
        case .permission:
            return "\(queueText): \(call.rawValue) failed (\(reason)): mssclamp needs root or CAP_NET_ADMIN"
        case .busy:
            return "\(queueText) is already bound by another process (\(reason)); stop it or pick another --queue"
        case .unsupported where call == .configure || call == .open:
            return "\(queueText): the kernel refused NFQUEUE (\(reason)): no nfnetlink_queue support "
                + "(CONFIG_NETFILTER_NETLINK_QUEUE) or the module cannot be loaded"
        default:
            return "\(queueText): \(call.rawValue) failed: \(reason) (errno \(errno))"
        }
    }
}

/// The system calls of the packet path, replaceable so unit tests can force errors without a kernel.
public struct SyscallTable: Sendable {
    /// recvmmsg into a batch; -1 with errno on failure.
    public var receive: @Sendable (_ fd: Int32, _ batch: OpaquePointer) -> Int32
    /// send of a whole verdict buffer; -1 with errno on failure.
    public var send: @Sendable (_ fd: Int32, _ buffer: UnsafeRawPointer, _ length: Int) -> Int
    /// The errno of the last failed call on this thread.
    public var lastError: @Sendable () -> Int32

    public init(
        receive: @escaping @Sendable (Int32, OpaquePointer) -> Int32,
        send: @escaping @Sendable (Int32, UnsafeRawPointer, Int) -> Int,
        lastError: @escaping @Sendable () -> Int32
    ) {
        self.receive = receive
        self.send = send
        self.lastError = lastError
    }
}

/// Calls `body` until it does not fail with EINTR; returns its result or the error naming `call`.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(
    _ call: Syscall, queue: UInt16, table: SyscallTable, _ body: () -> T
) -> Result<T, QueueError> {
    while true {
        let result = body()
        if result >= 0 { return .success(result) }
        let error = table.lastError()
        if error == EINTR { continue }
        return .failure(QueueError(call, errno: error, queue: queue))
    }
}
