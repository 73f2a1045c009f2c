import CMSSClampShim

#if canImport(Glibc)
    import Glibc
#endif

/// A bulk transfer over real TCP, for `mssclamp lab demo`: a server that sends every connection the same
/// number of bytes and notes the MSS it sends with, and a client that reads until the end or until the
/// transfer stalls.
public enum TCPTransfer {
    /// How a download ended.
    public struct Download: Sendable, Hashable {
        public var bytes: Int
        public var seconds: Double
        /// True when the whole transfer arrived and the server closed the connection.
        public var completed: Bool
        /// Why it did not complete, if it did not.
        public var failure: String?
    }

    /// A socket address for an IPv4 or IPv6 literal.
    static func socketAddress(_ address: String, port: UInt16) -> (storage: sockaddr_storage, length: socklen_t, family: Int32)? {
        var storage = sockaddr_storage()
        if address.contains(":") {
            var six = sockaddr_in6()
            six.sin6_family = sa_family_t(AF_INET6)
            six.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, address, &six.sin6_addr) == 1 else { return nil }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: six) { raw.copyMemory(from: $0) } }
            return (storage, socklen_t(MemoryLayout<sockaddr_in6>.size), AF_INET6)
        }
        guard let four = TCPHandshake.socketAddress(address, port: port) else { return nil }
        withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: four) { raw.copyMemory(from: $0) } }
        return (storage, socklen_t(MemoryLayout<sockaddr_in>.size), AF_INET)
    }

    /// Connects to `address`:`port` and reads until the server closes. Gives up when nothing arrives for
    /// `stallSeconds`, or after `limitSeconds` in all.
    public static func download(from address: String, port: UInt16, stallSeconds: Double, limitSeconds: Double) -> Download {
        let start = monotonicNanoseconds()
        func elapsed() -> Double { Double(monotonicNanoseconds() - start) / 1e9 }
        guard var target = socketAddress(address, port: port) else {
            return Download(bytes: 0, seconds: 0, completed: false, failure: "not an address: \(address)")
        }
        let fd = socket(target.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return Download(bytes: 0, seconds: 0, completed: false, failure: "socket: \(errno)") }
        defer { close(fd) }
        let connected = withUnsafePointer(to: &target.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, target.length) }
        }
        if connected != 0, errno != EINPROGRESS {
            return Download(bytes: 0, seconds: elapsed(), completed: false, failure: String(cString: strerror(errno)))
        }
        var bytes = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = limitSeconds - elapsed()
            guard left > 0 else { return Download(bytes: bytes, seconds: elapsed(), completed: false, failure: "timed out") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left, stallSeconds) * 1000))
            if ready == 0 {
                if left <= stallSeconds { continue }
                return Download(bytes: bytes, seconds: elapsed(), completed: false, failure: "nothing arrived for \(Int(stallSeconds)) s")
            }
            if ready < 0 { if errno == EINTR { continue } else { break } }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                bytes += count
            } else if count == 0 {
                return Download(bytes: bytes, seconds: elapsed(), completed: true, failure: nil)
            } else if errno != EAGAIN && errno != EINTR {
                return Download(bytes: bytes, seconds: elapsed(), completed: false, failure: String(cString: strerror(errno)))
            }
        }
        return Download(bytes: bytes, seconds: elapsed(), completed: false, failure: String(cString: strerror(errno)))
    }
}

/// A listener on [::]:port (IPv4 too) whose connections are each sent the same number of bytes; the
/// caller decides which thread sends (a stalled client must not hold up the next).
public final class TransferServer: @unchecked Sendable {
    private let fd: Int32

    /// Listens on [::]:`port` (IPv4 too) in the calling thread's network namespace.
    public init(port: UInt16) throws(SystemCallError) {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError(.tcpSocket, errno: errno) }
        var zero: Int32 = 0
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw SystemCallError(.bind, errno: code)
        }
        guard listen(fd, 64) == 0 else {
            let code = errno
            close(fd)
            throw SystemCallError(.listen, errno: code)
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// The next connection, waiting up to `timeoutMilliseconds`, with the MSS it sends with (TCP_MAXSEG).
    public func accept(timeoutMilliseconds: Int32) -> (connection: Int32, maximumSegment: Int)? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return nil }
        let connection = CMSSClampShim_accept(fd)
        guard connection >= 0 else { return nil }
        // Sends block (with a timeout, `send`): the accepted socket came non-blocking.
        _ = fcntl(connection, F_SETFL, 0)
        var segment: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(connection, Int32(IPPROTO_TCP), TCP_MAXSEG, &segment, &length)
        return (connection, Int(segment))
    }

    /// Sends `size` bytes on `connection` and closes it; a send that cannot go on for 10 s ends it.
    public static func send(_ size: Int, on connection: Int32) {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let payload = [UInt8](repeating: 0x6d, count: 65536)
        var left = size
        while left > 0 {
            let count = payload.withUnsafeBytes { Glibc.send(connection, $0.baseAddress, min(left, $0.count), Int32(MSG_NOSIGNAL)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            left -= count
        }
        close(connection)
    }
}
