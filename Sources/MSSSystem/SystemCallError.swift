#if canImport(Glibc)
    import Glibc
#endif

/// The system calls MSSSystem makes, as errors name them.
public enum SystemCall: String, Sendable, Hashable {
    case peerCredentials = "getsockopt(SO_PEERCRED)"
    case peerGroups = "getsockopt(SO_PEERGROUPS)"
    case netlinkSubscribe = "socket/bind(AF_NETLINK)"
    case setsockopt = "setsockopt"
    case accept = "accept4"
    case getrlimit = "getrlimit"
    case setrlimit = "setrlimit"
    case threadName = "/proc/thread-self/comm"
    case socket = "socket(AF_UNIX)"
    case connect = "connect"
    // The steps of the capability drop, in the words its error message has always used.
    case boundingSetDrop = "prctl(PR_CAPBSET_DROP)"
    case keepCapabilities = "prctl(PR_SET_KEEPCAPS)"
    case setgroups = "setgroups"
    case setgid = "setgid"
    case setuid = "setuid"
    case capset = "capset"
    case ambientClear = "prctl(PR_CAP_AMBIENT_CLEAR_ALL)"
    case ambientRaise = "prctl(PR_CAP_AMBIENT_RAISE)"
    // `mssclamp bench` and `mssclamp lab`.
    case openNamespace = "open(/run/netns)"
    case setns = "setns(CLONE_NEWNET)"
    case packetSocket = "socket/bind(AF_PACKET)"
    case sendmmsg = "sendmmsg"
    case tcpSocket = "socket(AF_INET)"
    case bind = "bind"
    case listen = "listen"
}

/// A failed system call with the errno read right after it.
public struct SystemCallError: Error, Sendable, Hashable, CustomStringConvertible {
    public var call: SystemCall
    public var errno: Int32

    public init(_ call: SystemCall, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// strerror's text for `errno`.
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String { "\(call.rawValue): \(reason)" }
}

/// Calls `body` until it does not fail with EINTR; returns its result or the error naming `call`.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ call: SystemCall, _ body: () -> T) throws(SystemCallError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Glibc.errno
        if error == EINTR { continue }
        throw SystemCallError(call, errno: error)
    }
}
