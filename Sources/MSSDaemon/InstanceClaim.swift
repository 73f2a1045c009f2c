#if canImport(Glibc)
    import Glibc
#endif
import MSSPolicy

/// One daemon per instance name and network namespace: two daemons of one instance would install the
/// same chain, net and liveness list and remove each other's at stop.
///
/// The claim is an abstract unix socket named after the instance. Abstract names belong to the network
/// namespace (the scope of the rules they guard), need no file, and are released by the kernel when the
/// daemon exits however it exits, so a crash never leaves a stale claim behind.
final class InstanceClaim {
    private let fd: Int32

    /// - Throws: exit 69 when a daemon of `instance` already runs in this network namespace.
    init(_ instance: Instance) throws(DaemonError) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw DaemonError(message: "socket(AF_UNIX): \(String(cString: strerror(errno)))", exitCode: 71)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // sun_path[0] = 0 makes the name abstract; the rest is the name, not NUL-terminated.
        let name = Array("mssclamp/instance/\(instance.name)".utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path[0] = 0
            for (index, byte) in name.enumerated() { path[index + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + name.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            if code == EADDRINUSE {
                throw DaemonError(
                    message: "instance \(instance) already runs in this network namespace (its rules, net and liveness list would collide); stop it or start this one with another --instance",
                    exitCode: 69)
            }
            throw DaemonError(message: "cannot claim instance \(instance): \(String(cString: strerror(code)))", exitCode: 71)
        }
        self.fd = fd
    }

    deinit { close(fd) }
}
