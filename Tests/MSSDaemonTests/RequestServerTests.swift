import Foundation
import MSSControl
import MSSSystem
import Synchronization
import Testing

@testable import MSSDaemon

#if canImport(Glibc)
    import Glibc
#endif

/// The poll server behind the control socket and the metrics endpoint, on a Unix socket of its own:
/// each client fault the issue names, with the proof that the next honest client is still answered.
@Suite("Request server: hang-ups, floods, slow and huge clients")
struct RequestServerTests {
    /// A server that answers "pong <request>\n" to each line; `slow` requests take that long.
    final class Fixture: @unchecked Sendable {
        let path = "/tmp/mssclamp-rs-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server: RequestServer

        init(limits: ServerLimits = ServerLimits(maxRequestBytes: 1024, maxClients: 64, requestSeconds: 1, responseSeconds: 1)) throws {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = try ControlClient.address(path)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            precondition(bound == 0 && listen(fd, 128) == 0)
            server = try RequestServer(
                name: "test", listener: fd, limits: limits,
                framing: { bytes in bytes.firstIndex(of: 0x0a).map { .complete(length: $0) } ?? .incomplete },
                tooLarge: Array("too large\n".utf8),
                handler: { request, _ in
                    let text = String(decoding: request, as: UTF8.self)
                    if text == "slow" { usleep(1_500_000) }
                    if text == "huge" { return [UInt8](repeating: 0x61, count: 8 << 20) + [0x0a] }
                    return Array("pong \(text)\n".utf8)
                })
            server.start()
        }

        deinit {
            server.stop()
            unlink(path)
        }

        func connect() throws -> Int32 { try ControlClient.connect(path) }

        /// One honest request and its answer.
        func ask(_ text: String, timeout: Double = 5) throws -> String? {
            let fd = try connect()
            defer { close(fd) }
            let deadline = monotonicMilliseconds() + Int64(timeout * 1000)
            guard ControlClient.write(fd, Array((text + "\n").utf8), deadline: deadline) else { return nil }
            guard case .line(let line) = ControlClient.readLine(fd, deadline: deadline, limit: 1 << 20) else { return nil }
            return String(decoding: line, as: UTF8.self)
        }
    }

    /// A request over the limit is refused even when its terminator arrives in the same read: the limit
    /// holds before framing (a 70,060-byte line against 64 KiB was processed once).
    @Test func theSizeLimitHoldsBeforeFraming() throws {
        let fixture = try Fixture(limits: ServerLimits(maxRequestBytes: 64 << 10, maxClients: 64, requestSeconds: 2, responseSeconds: 2))
        let answer = try fixture.ask(String(repeating: "x", count: 70_059))
        #expect(answer == "too large", "a request past the limit was answered: \(answer?.prefix(40) ?? "nothing")")
        // One at the limit is still served.
        let fitting = try fixture.ask(String(repeating: "y", count: 64 << 10))
        #expect(fitting?.hasPrefix("pong yyy") == true)
    }

    @Test func earlyHangUpsLeaveTheServerAnswering() throws {
        let fixture = try Fixture()
        for index in 0..<100 {
            let fd = try fixture.connect()
            if index % 3 != 0 { _ = ControlClient.write(fd, Array("hello\n".utf8), deadline: monotonicMilliseconds() + 1000) }
            var linger = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
            close(fd)
        }
        #expect(try fixture.ask("after") == "pong after")
    }

    /// 500 idle connections against a limit of 64: the oldest idle ones make room, and an honest client
    /// is answered at once.
    @Test func idleFloodDoesNotLockOutAClient() throws {
        let fixture = try Fixture()
        var idle: [Int32] = []
        for _ in 0..<500 { if let fd = try? fixture.connect() { idle.append(fd) } }
        defer { for fd in idle { close(fd) } }
        #expect(idle.count == 500)
        #expect(try fixture.ask("through the flood") == "pong through the flood")
        #expect(fixture.server.refused.load(ordering: .relaxed) > 0)
    }

    @Test func oversizedRequestIsRefusedAndTheNextIsServed() throws {
        let fixture = try Fixture()
        let fd = try fixture.connect()
        defer { close(fd) }
        let sent = ControlClient.write(fd, [UInt8](repeating: 0x78, count: 10 << 20), deadline: monotonicMilliseconds() + 3000)
        #expect(!sent, "a 10 MB line should not be taken whole")
        #expect(try fixture.ask("next") == "pong next")
    }

    /// A client that sends half a request and waits is dropped at the request deadline.
    @Test func stalledRequestIsDroppedAtItsDeadline() throws {
        let fixture = try Fixture()
        let fd = try fixture.connect()
        defer { close(fd) }
        _ = ControlClient.write(fd, Array("half".utf8), deadline: monotonicMilliseconds() + 1000)
        let result = ControlClient.readLine(fd, deadline: monotonicMilliseconds() + 5000, limit: 1024)
        guard case .closed = result else {
            Issue.record("expected the server to close the stalled connection, got \(result)")
            return
        }
    }

    /// A slow request does not hold up others: handlers run concurrently.
    @Test func slowRequestDoesNotBlockOthers() throws {
        let fixture = try Fixture()
        let slow = try fixture.connect()
        defer { close(slow) }
        _ = ControlClient.write(slow, Array("slow\n".utf8), deadline: monotonicMilliseconds() + 1000)
        let start = monotonicMilliseconds()
        #expect(try fixture.ask("quick") == "pong quick")
        #expect(monotonicMilliseconds() - start < 1400, "the quick request waited for the slow one")
    }

    /// A client that asks for a large answer and never reads it is dropped; the server goes on.
    @Test func clientThatDoesNotReadIsDropped() throws {
        let fixture = try Fixture()
        let fd = try fixture.connect()
        defer { close(fd) }
        _ = ControlClient.write(fd, Array("huge\n".utf8), deadline: monotonicMilliseconds() + 1000)
        usleep(1_500_000)  // past the response deadline
        #expect(try fixture.ask("still here") == "pong still here")
    }
}
