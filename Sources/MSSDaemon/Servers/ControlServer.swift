import Foundation
import MSSControl
import MSSPolicy
import MSSSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The control socket's server: a Unix stream socket in a directory only root can write to (its
/// directory 0700, the socket 0600), served by a `RequestServer`: clients are handled concurrently,
/// each with deadlines and a size limit, so none can stall or end the daemon. Who may do what is
/// `ControlRole`'s: root everything, the `[control] group` learn-address only.
///
/// With a group, the directory is 0750 and the socket 0660, both of that group. Never world-accessible.
/// A directory others may write to (/tmp, a sticky or group-writable one) is refused: whoever can write
/// there could plant the learned-peers file or a socket of their own.
final class ControlServer: @unchecked Sendable {
    let path: String
    private let server: RequestServer

    /// Requests are one line of JSON; a `peer add` is well under a kilobyte.
    static let limits = ServerLimits(maxRequestBytes: 64 << 10, maxClients: 512, requestSeconds: 5, responseSeconds: 10)

    /// Creates the directory (0700) and binds the socket (0600). A socket file left by a dead daemon is
    /// replaced; one a running daemon answers on is not.
    init(path: String, group: String? = nil, handler: @escaping @Sendable (ControlRequest, ControlRole) -> ControlResponse) throws(ControlError) {
        var found: gid_t?
        if let group {
            guard let entry = getgrnam(group) else {
                throw ControlError(description: "control group '\(group)' does not exist", exitCode: 67)
            }
            found = entry.pointee.gr_gid
        }
        let groupID = found
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        var info = stat()
        var dedicated = false
        if stat(directory, &info) != 0 {
            dedicated = true
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw ControlError(description: "cannot create \(directory): \(String(cString: strerror(errno)))", exitCode: 73)
            }
        } else {
            // A directory of its own (nothing for others in it), not a shared one such as /run.
            dedicated = info.st_mode & 0o007 == 0
        }
        if let refusal = PrivateDirectory.refusal(directory) {
            throw ControlError(
                description: "refusing control socket \(path): \(refusal); put it in a directory only root can write to (the default is \(PolicyConfiguration.defaultControlSocket))",
                exitCode: 73)
        }
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw ControlError(description: "\(path) exists and is not a socket; remove it or choose another --control-socket", exitCode: 73)
            }
            // Only a connect tells a live daemon from a stale file. The probe sends nothing and closes:
            // a daemon on the other end sees a client that hung up, which it survives.
            if let fd = try? ControlClient.connect(path) {
                close(fd)
                throw ControlError(description: "control socket \(path) is in use by another mssclamp", exitCode: 69)
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError(description: "socket(AF_UNIX): \(String(cString: strerror(errno)))", exitCode: 71) }
        var address = try ControlClient.address(path)
        // Created 0600 from the start: no window in which others could connect.
        let oldMask = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(oldMask)
        guard bound == 0, listen(fd, 128) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw ControlError(description: "cannot listen on \(path): \(message)", exitCode: 73)
        }
        if let groupID {
            // The directory and the socket become the group's; others still get nothing.
            if dedicated {
                chown(directory, 0, groupID)
                chmod(directory, 0o750)
            }
            chown(path, 0, groupID)
            chmod(path, 0o660)
        } else {
            chmod(path, 0o600)
        }
        let tooLarge = Self.encode(ControlResponse(ok: false, error: "request larger than \(Self.limits.maxRequestBytes) bytes"))
        do {
            server = try RequestServer(
                name: "control", listener: fd, limits: Self.limits,
                framing: { bytes in
                    guard let newline = bytes.firstIndex(of: 0x0a) else { return .incomplete }
                    return .complete(length: newline)
                },
                tooLarge: tooLarge,
                credentials: { client in
                    guard let peer = try? PeerCredentials(of: client) else { return ClientCredentials() }
                    // Empty when the kernel cannot say: then only the primary group counts.
                    let groups = (try? PeerCredentials.supplementaryGroups(of: client)) ?? []
                    return ClientCredentials(uid: peer.uid, gid: peer.gid, groups: groups)
                },
                handler: { request, client in
                    let role = ControlRole(client, group: groupID)
                    if role == .none, let refusal = role.refusal(.stats) {
                        return Self.encode(ControlResponse(ok: false, error: refusal))
                    }
                    guard let decoded = try? JSONDecoder().decode(ControlRequest.self, from: Data(request)) else {
                        return Self.encode(ControlResponse(ok: false, error: "unreadable request"))
                    }
                    if let refusal = role.refusal(decoded.command) {
                        return Self.encode(ControlResponse(ok: false, error: refusal))
                    }
                    return Self.encode(handler(decoded, role))
                })
        } catch {
            close(fd)
            unlink(path)
            throw ControlError(description: error.message, exitCode: error.exitCode)
        }
    }

    /// A response as one line.
    static func encode(_ response: ControlResponse) -> [UInt8] {
        guard let data = try? JSONEncoder().encode(response) else {
            return Array(#"{"ok":false,"error":"the daemon could not encode its answer"}"#.utf8) + [0x0a]
        }
        return [UInt8](data) + [0x0a]
    }

    func start() { server.start() }

    func stop() {
        server.stop()
        unlink(path)
    }
}
