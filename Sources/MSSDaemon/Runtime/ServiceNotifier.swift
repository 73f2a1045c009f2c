#if canImport(Glibc)
    import Glibc
#endif

/// The systemd notification protocol (sd_notify), spoken directly: one datagram per message to the
/// socket in $NOTIFY_SOCKET. No libsystemd is needed. Outside systemd (no $NOTIFY_SOCKET) every call
/// does nothing.
///
/// The daemon sends READY=1 once its queues are bound, its workers run and its rules are in place;
/// RELOADING=1 / READY=1 around a reload; STOPPING=1 when it stops; and WATCHDOG=1 from the main loop
/// while every worker has turned its receive loop recently, so a worker that stops pulling its queue
/// (or a stopped process) gets the service restarted after WatchdogSec.
final class ServiceNotifier: @unchecked Sendable {
    private let fd: Int32
    private var address = sockaddr_un()
    private let addressLength: socklen_t
    /// Half of WatchdogSec in milliseconds, as sd_watchdog_enabled advises; nil without a watchdog.
    let watchdogInterval: Int64?

    /// Reads $NOTIFY_SOCKET and $WATCHDOG_USEC (honouring $WATCHDOG_PID); nil outside systemd.
    init?(environment: (String) -> String? = { getenv($0).map { String(cString: $0) } }) {
        guard let path = environment("NOTIFY_SOCKET"), !path.isEmpty, path.hasPrefix("/") || path.hasPrefix("@") else {
            return nil
        }
        var bytes = Array(path.utf8)
        // "@name" is an abstract socket: a leading zero byte.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var interval: Int64? = nil
        if let text = environment("WATCHDOG_USEC"), let microseconds = Int64(text), microseconds > 0 {
            let forUs = environment("WATCHDOG_PID").map { Int32($0) == getpid() } ?? true
            if forUs { interval = microseconds / 2000 }
        }
        watchdogInterval = interval
    }

    deinit { close(fd) }

    /// Sends one message ("READY=1\nSTATUS=..."); errors are ignored, as sd_notify callers do.
    func send(_ message: String) {
        let bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                bytes.withUnsafeBytes { raw in
                    sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), target, addressLength)
                }
            }
        }
    }

    func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// RELOADING=1 with the monotonic time systemd wants for Type=notify-reload.
    func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        send("RELOADING=1\nMONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)")
    }

    func stopping() { send("STOPPING=1") }
    func watchdog() { send("WATCHDOG=1") }
    func status(_ text: String) { send("STATUS=\(text)") }
}
