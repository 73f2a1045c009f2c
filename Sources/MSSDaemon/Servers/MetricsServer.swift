#if canImport(Glibc)
    import Glibc
#endif

/// The Prometheus endpoint of `mssclamp run --metrics HOST:PORT`: HTTP/1.0 on a `RequestServer`, so a
/// scraper that hangs up early, stalls, or opens hundreds of connections harms neither the daemon nor the
/// next scrape. Rendering is `MetricsRendering`'s.
///
/// Why not swift-nio or hummingbird: the endpoint answers one GET with one body; the poll server it shares
/// with the control socket already gives it deadlines, size limits and concurrency, and it starts its
/// thread after the capability drop like every other thread. NIO would add an event-loop group, a second
/// concurrency model and minutes of build time for the same behaviour (docs/design.md).
final class MetricsServer: @unchecked Sendable {
    let address: String
    let rendering: MetricsRendering
    private let server: RequestServer

    static let limits = ServerLimits(maxRequestBytes: 16 << 10, maxClients: 256, requestSeconds: 5, responseSeconds: 10)

    /// Binds `host:port` (IPv4 or IPv6 literal; "[::1]:9469" for IPv6).
    init(address: String, snapshot: @escaping @Sendable () -> MetricsRendering.Snapshot) throws(DaemonError) {
        self.address = address
        let rendering = MetricsRendering(snapshot: snapshot)
        self.rendering = rendering
        let fd = try Self.listen(address)
        let tooLarge = Array("HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n".utf8)
        do {
            server = try RequestServer(
                name: "metrics", listener: fd, limits: Self.limits,
                framing: { bytes in
                    // The request ends at the first empty line.
                    var index = 0
                    while index + 1 < bytes.count {
                        if bytes[index] == 0x0a && bytes[index + 1] == 0x0a { return .complete(length: index + 2) }
                        if bytes[index] == 0x0a && bytes[index + 1] == 0x0d, index + 2 < bytes.count, bytes[index + 2] == 0x0a {
                            return .complete(length: index + 3)
                        }
                        index += 1
                    }
                    return .incomplete
                },
                tooLarge: tooLarge,
                handler: { request, _ in Array(Self.respond(to: request, rendering: rendering).utf8) })
        } catch {
            close(fd)
            throw error
        }
    }

    static func respond(to request: [UInt8], rendering: MetricsRendering) -> String {
        let firstLine = String(decoding: request.prefix { $0 != 0x0d && $0 != 0x0a }, as: UTF8.self)
        let parts = firstLine.split(separator: " ")
        let path = parts.count > 1 ? String(parts[1]) : ""
        guard parts.first == "GET" || parts.first == "HEAD" else {
            return "HTTP/1.0 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\n\r\n"
        }
        guard path == "/metrics" || path.hasPrefix("/metrics?") else {
            let body = "mssclamp serves /metrics\n"
            return "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        }
        let body = parts.first == "HEAD" ? "" : rendering.render()
        return "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    /// A listening TCP socket on `host:port`.
    private static func listen(_ address: String) throws(DaemonError) -> Int32 {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw DaemonError(message: "--metrics wants HOST:PORT, got '\(address)'", exitCode: 64)
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var storage = sockaddr_storage()
        let family: Int32 = host.contains(":") ? AF_INET6 : AF_INET
        let length: socklen_t
        if family == AF_INET6 {
            var address6 = sockaddr_in6()
            address6.sin6_family = sa_family_t(AF_INET6)
            address6.sin6_port = port.bigEndian
            let parsed = inet_pton(AF_INET6, host, &address6.sin6_addr)
            length = try Self.store(address6, into: &storage, parsed: parsed, host)
        } else {
            var address4 = sockaddr_in()
            address4.sin_family = sa_family_t(AF_INET)
            address4.sin_port = port.bigEndian
            let parsed = inet_pton(AF_INET, host, &address4.sin_addr)
            length = try Self.store(address4, into: &storage, parsed: parsed, host)
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw DaemonError(message: "cannot open a socket for metrics: \(String(cString: strerror(errno)))", exitCode: 71)
        }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
        let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, Glibc.listen(fd, 128) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw DaemonError(message: "cannot listen on \(address) for metrics: \(message)", exitCode: 69)
        }
        return fd
    }

    /// Copies a parsed socket address into `storage`; `parsed` is inet_pton's result for `host`.
    private static func store<Address>(
        _ address: Address, into storage: inout sockaddr_storage, parsed: Int32, _ host: String
    ) throws(DaemonError) -> socklen_t {
        guard parsed == 1 else { throw DaemonError(message: "--metrics: '\(host)' is not an address", exitCode: 64) }
        withUnsafeBytes(of: address) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
        return socklen_t(MemoryLayout<Address>.size)
    }

    func start() { server.start() }
    func stop() { server.stop() }
}
