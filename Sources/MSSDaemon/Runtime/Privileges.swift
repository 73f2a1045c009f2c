import Foundation
import MSSSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Root or CAP_NET_ADMIN.
public enum Privileges {
    /// CAP_NET_RAW (13): iptables-legacy's tools open a raw socket.
    public static let netRaw: UInt64 = 1 << 13

    /// Keeps only CAP_NET_ADMIN (effective, permitted, inheritable, ambient; everything else also out of
    /// the bounding set), plus `extra`, and, with `user`, takes that user's identity. Called once the
    /// queues are bound.
    /// - Returns: false when the bounding set could not be changed (no CAP_SETPCAP: a daemon started with
    ///   exactly CAP_NET_ADMIN, which can gain nothing more anyway).
    @discardableResult
    public static func dropToNetAdmin(user: String?, extra: UInt64 = 0) throws(DaemonError) -> Bool {
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        if let user {
            guard let entry = getpwnam(user) else {
                throw DaemonError(message: "--user \(user): no such user", exitCode: 67)
            }
            uid = entry.pointee.pw_uid
            gid = entry.pointee.pw_gid
            // The working directory may be one the user cannot enter (root's home): the tools the daemon
            // runs later would fail there with misleading permission errors.
            guard chdir("/") == 0 else {
                throw DaemonError(message: "cannot change to /: \(String(cString: strerror(errno)))", exitCode: 71)
            }
        }
        do {
            return try CapabilityDrop.keepOnly(netAdmin | extra, identity: user == nil ? nil : (uid, gid))
        } catch {
            throw DaemonError(message: "cannot drop privileges (\(error.call.rawValue)): \(error.reason)", exitCode: 71)
        }
    }

    /// Raises the soft limit on open files to the hard one (at most 65536): the control socket and the
    /// metrics endpoint each serve hundreds of clients, and a flood of idle connections must meet the
    /// servers' own eviction, not EMFILE.
    public static func raiseOpenFileLimit() {
        _ = try? OpenFileLimit.raise(toAtMost: 65536)
    }

    /// CAP_NET_ADMIN is capability 12 (linux/capability.h).
    static let netAdmin: UInt64 = 1 << 12

    public static var hasNetAdmin: Bool {
        if geteuid() == 0 { return true }
        return effectiveCapabilities & netAdmin != 0
    }

    /// The CapEff mask from /proc/self/status.
    public static var effectiveCapabilities: UInt64 {
        capabilityMask("CapEff") ?? 0
    }

    public static func capabilityMask(_ field: String, status path: String = "/proc/self/status") -> UInt64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return UInt64(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces), radix: 16)
        }
        return nil
    }
}
