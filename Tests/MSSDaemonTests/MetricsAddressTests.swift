import Foundation
import MSSControl
import Testing

@testable import MSSDaemon

/// `--metrics HOST:PORT`: an IPv4 or IPv6 literal is bound exactly as given (the kernel's own socket
/// table says so), a name is refused with a usage error.
@Suite("Metrics address")
struct MetricsAddressTests {
    static func snapshot() -> MetricsRendering.Snapshot {
        MetricsRendering.Snapshot(statistics: Statistics(), kernel: [], policyVersion: 0, changes: [:], peers: 0)
    }

    /// Binds `host` on a free port (a random one, tried again when taken); returns the server and port.
    static func bind(_ host: String) throws -> (MetricsServer, UInt16) {
        var lastError: DaemonError?
        for _ in 0..<20 {
            let port = UInt16.random(in: 20_000...60_000)
            do {
                return (try MetricsServer(address: "\(host):\(port)") { snapshot() }, port)
            } catch {
                guard error.exitCode == 69 else { throw error }
                lastError = error
            }
        }
        throw lastError!
    }

    /// The listening sockets of /proc/net/tcp or tcp6, as "ADDRESS:PORT" in the kernel's hex.
    static func listening(_ table: String) throws -> Set<String> {
        let text = try String(contentsOfFile: table, encoding: .utf8)
        return Set(text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[3] == "0A" ? String(fields[1]) : nil
        })
    }

    @Test func anIPv4LiteralIsBoundAsGiven() throws {
        let (server, port) = try Self.bind("127.0.0.1")
        defer { server.stop() }
        let sockets = try Self.listening("/proc/net/tcp")
        #expect(sockets.contains("0100007F:" + String(format: "%04X", port)), "\(sockets.sorted())")
    }

    @Test func anIPv6LiteralIsBoundAsGiven() throws {
        let (server, port) = try Self.bind("[::1]")
        defer { server.stop() }
        let sockets = try Self.listening("/proc/net/tcp6")
        #expect(sockets.contains("00000000000000000000000001000000:" + String(format: "%04X", port)), "\(sockets.sorted())")
    }

    @Test(arguments: ["localhost:9469", "[localhost]:9469", "300.1.2.3:9469"])
    func aNameIsRefused(address: String) {
        #expect(throws: DaemonError.self) { _ = try MetricsServer(address: address) { Self.snapshot() } }
        do {
            _ = try MetricsServer(address: address) { Self.snapshot() }
        } catch {
            #expect(error.exitCode == 64 && error.message.contains("is not an address"), "\(error.message)")
        }
    }
}
