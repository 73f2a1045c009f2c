#if canImport(Glibc)
    import Glibc
#endif

/// TCP handshakes, timed: a listener that accepts and closes whatever comes, and a connect that reports
/// how long the handshake took (`mssclamp bench`'s latency rows). IPv4 literals only.
public enum TCPHandshake {
    /// An IPv4 socket address; nil when `address` is not an IPv4 literal.
    static func socketAddress(_ address: String, port: UInt16) -> sockaddr_in? {
        var result = sockaddr_in()
        result.sin_family = sa_family_t(AF_INET)
        result.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &result.sin_addr) == 1 else { return nil }
        return result
    }

    /// Connects to `address`:`port` and resets the connection at once (SO_LINGER 0: no TIME_WAIT left on
    /// either side).
    /// - Returns: the nanoseconds from connect() to the established connection, or nil when it failed or
    ///   took longer than `timeoutMilliseconds`.
    public static func timedConnect(to address: String, port: UInt16, timeoutMilliseconds: Int32) -> Int64? {
        guard var target = socketAddress(address, port: port) else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        let start = monotonicNanoseconds()
        let result = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            guard errno == EINPROGRESS else { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&poller, 1, timeoutMilliseconds) == 1 else { return nil }
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length) == 0, failure == 0 else { return nil }
        }
        return monotonicNanoseconds() - start
    }
}

/// A TCP listener on every IPv4 address of the namespace it was created in, that accepts each connection
/// and closes it.
public final class TCPListener: @unchecked Sendable {
    private let fd: Int32

    /// Listens on `port` in the calling thread's network namespace.
    public init(port: UInt16) throws(SystemCallError) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError(.tcpSocket, errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = TCPHandshake.socketAddress("0.0.0.0", port: port)!
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw SystemCallError(.bind, errno: code)
        }
        guard Glibc.listen(fd, 4096) == 0 else {
            let code = errno
            close(fd)
            throw SystemCallError(.listen, errno: code)
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Accepts and closes connections until `stop` says so (checked at least every 50 ms).
    public func serve(until stop: () -> Bool) {
        while !stop() {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            while true {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { break }
                close(connection)
            }
        }
    }
}
