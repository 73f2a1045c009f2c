#if canImport(Glibc)
    import Glibc
#endif

/// A connected Unix stream socket, as clients use it: connect to a path, write everything or fail by a
/// deadline, receive what is there by a deadline. The control client and the VICI client share it.
public enum UnixStream {
    /// What one receive gave.
    public enum Received: Sendable, Hashable {
        case bytes([UInt8])
        case timedOut
        /// The other end closed (or reset) the connection.
        case closed
    }

    /// `path` as a socket address; nil when it does not fit `sun_path`.
    public static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// The longest path `address` takes.
    public static var maximumPathBytes: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1 }

    /// A close-on-exec stream socket connected to `path`.
    public static func connect(_ path: String) throws(SystemCallError) -> Int32 {
        guard var address = address(path) else { throw SystemCallError(.connect, errno: ENAMETOOLONG) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError(.socket, errno: errno) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw SystemCallError(.connect, errno: code)
        }
        return fd
    }

    /// Writes everything before the deadline; false on an error (EPIPE included: never a signal).
    public static func write(_ fd: Int32, _ bytes: [UInt8], deadline: Int64) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let left = deadline - monotonicMilliseconds()
            guard left > 0 else { return false }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&poller, 1, Int32(clamping: left)) > 0 else { continue }
            let sent = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if sent > 0 {
                offset += sent
            } else if sent < 0 && (errno == EAGAIN || errno == EINTR) {
                continue
            } else {
                return false
            }
        }
        return true
    }

    /// Up to `maximum` bytes, as soon as some are there, waiting until the deadline at most.
    public static func receive(_ fd: Int32, maximum: Int, deadline: Int64) -> Received {
        var buffer = [UInt8](repeating: 0, count: max(1, maximum))
        while true {
            let left = deadline - monotonicMilliseconds()
            guard left > 0 else { return .timedOut }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(clamping: left))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard count > 0 else { return .closed }
            return .bytes(Array(buffer[0..<count]))
        }
    }
}
