import Foundation
import MSSControl
import Testing

@testable import MSSDaemon

#if canImport(Glibc)
    import Glibc
#endif

/// sd_notify spoken to a datagram socket standing in for systemd's.
@Suite("systemd notifications")
struct ServiceNotifierTests {
    @Test func messagesReachTheNotifySocket() throws {
        let path = "/tmp/mssclamp-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer {
            close(fd)
            unlink(path)
        }
        var address = try ControlClient.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        let environment = ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": String(getpid())]
        let notifier = try #require(ServiceNotifier(environment: { environment[$0] }))
        #expect(notifier.watchdogInterval == 2000)
        notifier.ready(status: "clamping")
        notifier.watchdog()
        var buffer = [UInt8](repeating: 0, count: 512)
        var messages: [String] = []
        for _ in 0..<2 {
            let count = recv(fd, &buffer, buffer.count, 0)
            messages.append(String(decoding: buffer[0..<max(0, count)], as: UTF8.self))
        }
        #expect(messages == ["READY=1\nSTATUS=clamping", "WATCHDOG=1"])
    }

    @Test func withoutSystemdNothingIsSent() {
        #expect(ServiceNotifier(environment: { _ in nil }) == nil)
        // A watchdog meant for another process is not ours.
        let other = ["NOTIFY_SOCKET": "/tmp/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"]
        #expect(ServiceNotifier(environment: { other[$0] })?.watchdogInterval == nil)
    }
}
