import CMSSClampShim
import Foundation
import MSSPolicy
import Synchronization

// The control socket: a Unix stream socket, root-only (its directory 0700, the socket 0600, and the
// peer's uid checked with SO_PEERCRED). One JSON request line per connection, one JSON response line.

/// A request to the daemon.
public struct ControlRequest: Codable, Sendable {
    public enum Command: String, Codable, Sendable {
        case peerAdd = "peer-add"
        case peerRemove = "peer-remove"
        case peerList = "peer-list"
        case peerSave = "peer-save"
        case stats
        case reload
    }

    public var command: Command
    /// peer-remove: the name; peer-add: see `peer`.
    public var name: String?
    /// peer-add: the peer's keys as in a `[[peer]]` table.
    public var peer: LivePeerFields?
    /// peer-add: replace a live peer of the same name.
    public var replace: Bool?

    public init(command: Command, name: String? = nil, peer: LivePeerFields? = nil, replace: Bool? = nil) {
        self.command = command
        self.name = name
        self.peer = peer
        self.replace = replace
    }
}

/// The keys of a `[[peer]]`, as `peer add` sends them.
public struct LivePeerFields: Codable, Sendable, Hashable {
    public var name: String
    public var match: [String]?
    public var inInterface: String?
    public var outInterface: String?
    public var fwmark: String?
    /// A number, or "none".
    public var mss: String?
    public var mss6: Int?
    public var linkMTU: Int?
    public var encap: [String]?
    public var cipher: String?
    public var integrity: String?

    public init(name: String) { self.name = name }

    /// Validated with the policy file's own reader.
    public func definition() throws(PolicyError) -> PeerDefinition {
        var entries: [(key: String, value: TOMLValue.Kind)] = [("name", .string(name))]
        func list(_ values: [String]) -> TOMLValue.Kind { .array(values.map { TOMLValue(kind: .string($0), line: 0) }) }
        if let match { entries.append(("match", list(match))) }
        if let inInterface { entries.append(("in_interface", .string(inInterface))) }
        if let outInterface { entries.append(("out_interface", .string(outInterface))) }
        if let fwmark { entries.append(("fwmark", .string(fwmark))) }
        if let mss { entries.append(("mss", Int(mss).map { .integer($0) } ?? .string(mss))) }
        if let mss6 { entries.append(("mss6", .integer(mss6))) }
        if let linkMTU { entries.append(("link_mtu", .integer(linkMTU))) }
        if let encap { entries.append(("encap", list(encap))) }
        if let cipher { entries.append(("cipher", .string(cipher))) }
        if let integrity { entries.append(("integrity", .string(integrity))) }
        return try PeerDefinition.validated(entries, source: "peer add")
    }
}

/// One peer as `peer list` shows it.
public struct PeerReport: Codable, Sendable, Hashable {
    public var name: String
    /// "file:LINE" or "live".
    public var origin: String
    public var match: [String]
    public var inInterface: String?
    public var outInterface: String?
    public var fwmark: String?
    /// nil: no clamp.
    public var mss4: UInt16?
    public var mss6: UInt16?
    /// How the ceiling was given ("mss 1300/1280", "link 1500 ipsec-esp-tunnel+nat-t -> mss 1360/1340").
    public var ceiling: String
    public var counters: PeerCounters
}

/// The daemon's answer.
public struct ControlResponse: Codable, Sendable {
    public var ok: Bool
    public var error: String?
    /// A line for people ("peer \"x\" added: ...").
    public var message: String?
    public var peers: [PeerReport]?
    public var statistics: Statistics?
    /// The defaults and the lowest ceilings in force (peer-list).
    public var defaults: Ceilings?
    public var policyVersion: UInt64?

    public init(ok: Bool, error: String? = nil, message: String? = nil) {
        self.ok = ok
        self.error = error
        self.message = message
    }
}

/// Errors of the control socket, for the client and the server.
public struct ControlError: Error, CustomStringConvertible {
    public var description: String
    public var exitCode: Int32
}

/// The server side: a thread accepting one request per connection.
final class ControlServer: @unchecked Sendable {
    let path: String
    private let descriptor: Int32
    private let handler: @Sendable (ControlRequest) -> ControlResponse
    private let stopFlag = Atomic(false)
    private var thread: WorkerThread?

    /// Creates the directory (0700) and binds the socket (0600). A socket file left by a dead daemon is
    /// replaced; one a running daemon answers on is not.
    init(path: String, handler: @escaping @Sendable (ControlRequest) -> ControlResponse) throws(ControlError) {
        self.path = path
        self.handler = handler
        let directory = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: directory) {
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw ControlError(description: "cannot create \(directory): \(String(cString: strerror(errno)))", exitCode: 73)
            }
        }
        if FileManager.default.fileExists(atPath: path) {
            if (try? ControlClient.connect(path)).map({ close($0); return true }) == true {
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
        guard bound == 0, listen(fd, 16) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw ControlError(description: "cannot listen on \(path): \(message)", exitCode: 73)
        }
        chmod(path, 0o600)
        descriptor = fd
    }

    func start() {
        thread = WorkerThread { [self] in serve() }
    }

    func stop() {
        stopFlag.store(true, ordering: .relaxed)
        thread?.join()
        thread = nil
        close(descriptor)
        unlink(path)
    }

    private func serve() {
        while !stopFlag.load(ordering: .relaxed) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) > 0 else { continue }
            let client = accept(descriptor, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var uid: UInt32 = 0
        let response: ControlResponse
        if CMSSClampShim_peer_uid(client, &uid) != 0 || (uid != 0 && uid != geteuid()) {
            response = ControlResponse(ok: false, error: "the control socket is root-only")
        } else if let line = ControlClient.readLine(client),
            let request = try? JSONDecoder().decode(ControlRequest.self, from: line)
        {
            response = handler(request)
        } else {
            response = ControlResponse(ok: false, error: "unreadable request")
        }
        if var data = try? JSONEncoder().encode(response) {
            data.append(0x0a)
            ControlClient.writeAll(client, data)
        }
    }
}

/// The client side, used by `mssclamp peer` and `mssclamp stats`.
public enum ControlClient {
    /// Sends one request and waits for the answer.
    public static func send(_ request: ControlRequest, to path: String) throws(ControlError) -> ControlResponse {
        let fd = try connect(path)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard var data = try? JSONEncoder().encode(request) else {
            throw ControlError(description: "cannot encode the request", exitCode: 70)
        }
        data.append(0x0a)
        writeAll(fd, data)
        guard let line = readLine(fd) else {
            throw ControlError(description: "no answer from the daemon on \(path)", exitCode: 69)
        }
        do {
            return try JSONDecoder().decode(ControlResponse.self, from: line)
        } catch {
            throw ControlError(description: "unreadable answer from the daemon: \(error)", exitCode: 70)
        }
    }

    static func connect(_ path: String) throws(ControlError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError(description: "socket(AF_UNIX): \(String(cString: strerror(errno)))", exitCode: 71) }
        var address = try address(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            let hint = code == EACCES ? " (root only)" : code == ENOENT || code == ECONNREFUSED ? " (is `mssclamp run` running?)" : ""
            throw ControlError(description: "cannot connect to \(path): \(String(cString: strerror(code)))\(hint)", exitCode: code == EACCES ? 77 : 69)
        }
        return fd
    }

    static func address(_ path: String) throws(ControlError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw ControlError(description: "control socket path is longer than \(capacity - 1) bytes: \(path)", exitCode: 64)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    static func readLine(_ fd: Int32) -> Data? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while data.count < 4 << 20 {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            data.append(contentsOf: buffer[0..<count])
            if let newline = data.firstIndex(of: 0x0a) { return data[..<newline] }
        }
        return data.isEmpty ? nil : data
    }

    static func writeAll(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}
