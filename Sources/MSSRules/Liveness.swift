import MSSPolicy
import MSSWire

#if canImport(Glibc)
    import Glibc
#endif

/// The queue's dead man's switch: the NFQUEUE rules match only while the daemon has said, within the
/// last `timeout` seconds, that it is alive. A daemon that stops turning its loop (SIGSTOP, a stuck worker,
/// a crash) stops saying so; within `timeout` seconds new SYNs no longer go to the queue, and the kernel
/// safety net clamps them instead. They arrive clamped rather than wait in a queue nobody reads (only the
/// SYNs queued before that wait for the daemon, or for the watchdog to replace it).
///
/// Built on iptables' `recent` match with a netmask of zero, so its list has a single entry whatever the
/// packet's address: `--rcheck --seconds 2` holds while that entry was refreshed in the last two seconds.
/// The daemon refreshes it by writing "+0.0.0.0" and "+::" to /proc/net/xt_recent/mssclamp_alive (the
/// rules create the list). No raw socket is needed (ipset's match would need CAP_NET_RAW), and the file
/// can be opened before the daemon drops its privileges.
public enum Liveness {
    /// Seconds a refresh keeps the queue rules matching; the daemon refreshes every `refreshMilliseconds`.
    public static let timeout = 2
    public static let refreshMilliseconds: Int64 = 500

    /// The list's file for an instance.
    public static func path(for instance: Instance) -> String { "/proc/net/xt_recent/\(instance.livenessList)" }

    /// The match, as iptables-save prints it.
    public static func match(for family: IPFamily, instance: Instance) -> String {
        "-m recent --rcheck --seconds \(timeout) --name \(instance.livenessList) --mask \(family == .ipv4 ? "0.0.0.0" : "::") --rsource"
    }
}

/// The daemon's end of the switch: the list's file, opened once (before privileges are dropped).
public final class LivenessSwitch: @unchecked Sendable {
    private let fd: Int32

    /// Opens the list's file; nil when there is none (no rules with the switch in this namespace).
    public init?(path: String) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.fd = fd
    }

    deinit { close(fd) }

    /// "Alive for another `timeout` seconds." One command per write, as the proc interface wants.
    @discardableResult
    public func refresh() -> Bool {
        write("+0.0.0.0\n") && write("+::\n")
    }

    /// "Not alive": the rules stop matching at once (the daemon is stopping).
    public func clear() { _ = write("/\n") }

    /// At offset 0 each time: the proc file refuses a write at any other offset (ESPIPE), a write()
    /// advances the offset, and pwrite() is refused outright; so seek back first. (One thread calls this.)
    private func write(_ command: String) -> Bool {
        let bytes = Array(command.utf8)
        guard lseek(fd, 0, SEEK_SET) == 0 else { return false }
        return bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}
