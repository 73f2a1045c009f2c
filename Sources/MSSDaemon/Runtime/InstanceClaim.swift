#if canImport(Glibc)
    import Glibc
#endif
import MSSPolicy

/// One daemon per instance name and network namespace, at most one unscoped instance, and no two
/// instances scoped to one interface: two daemons of one instance would install the same chain, net and
/// liveness list and remove each other's at stop, and two daemons that both claim a SYN would each clamp
/// it to their own ceilings (the lower wins, whoever owns the client).
///
/// Each claim is an abstract unix socket. Abstract names belong to the network namespace (the scope of
/// the rules they guard), need no file, and are released by the kernel when the daemon exits however it
/// exits, so a crash never leaves a stale claim behind.
final class InstanceClaim {
    private var descriptors: [Int32] = []

    /// - Parameter scope: the instance's interfaces (`[queue] interfaces`); empty for an unscoped one.
    /// - Throws: exit 69 when one of the claims is held by another daemon in this network namespace.
    init(_ instance: Instance, scope: [String]) throws(DaemonError) {
        try claim("mssclamp/instance/\(instance.name)") {
            "instance \(instance) already runs in this network namespace (its rules, net and liveness list would collide); stop it or start this one with another --instance"
        }
        if scope.isEmpty {
            try claim("mssclamp/unscoped") {
                "another mssclamp instance without a scope runs in this network namespace: it takes every SYN, and so would this one (each net clamping the other's traffic). Scope this instance to its tunnels with [queue] interfaces = [\"wg0\"] or --interface wg0"
            }
        }
        for name in scope {
            try claim("mssclamp/interface/\(name)") {
                "another mssclamp instance is scoped to interface \(name) in this network namespace; an interface belongs to one instance"
            }
        }
    }

    private func claim(_ name: String, taken: () -> String) throws(DaemonError) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw DaemonError(message: "socket(AF_UNIX): \(String(cString: strerror(errno)))", exitCode: 71)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // sun_path[0] = 0 makes the name abstract; the rest is the name, not NUL-terminated.
        let bytes = Array(name.utf8.prefix(MemoryLayout.size(ofValue: address.sun_path) - 1))
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path[0] = 0
            for (index, byte) in bytes.enumerated() { path[index + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            for held in descriptors { close(held) }
            descriptors.removeAll()
            if code == EADDRINUSE { throw DaemonError(message: taken(), exitCode: 69) }
            throw DaemonError(message: "cannot claim \(name): \(String(cString: strerror(code)))", exitCode: 71)
        }
        descriptors.append(fd)
    }

    deinit { for fd in descriptors { close(fd) } }
}
