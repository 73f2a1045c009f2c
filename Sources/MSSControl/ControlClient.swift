import Foundation
import MSSSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Errors of the control socket, for the client and the server.
public struct ControlError: Error, CustomStringConvertible {
    public var description: String
    public var exitCode: Int32

    public init(description: String, exitCode: Int32) {
        self.description = description
        self.exitCode = exitCode
    }
}

/// The client side, used by `mssclamp peer`, `mssclamp stats` and `mssclamp reload`.
public enum ControlClient {
    /// An answer may be long (`stats --json` with many peers); anything beyond this is not an answer.
    static let maxResponseBytes = 512 << 20

    /// Sends one request and waits up to `timeout` seconds for the answer.
    public static func send(_ request: ControlRequest, to path: String, timeout: Double = 10) throws(ControlError)
        -> ControlResponse
    {
        let fd = try connect(path)
        defer { close(fd) }
        guard let data = try? JSONEncoder().encode(request) else {
            throw ControlError(description: "cannot encode the request", exitCode: 70)
        }
        let deadline = monotonicMilliseconds() + Int64(timeout * 1000)
        guard write(fd, [UInt8](data) + [0x0a], deadline: deadline) else {
            throw ControlError(description: "the daemon on \(path) did not take the request: \(String(cString: strerror(errno)))", exitCode: 69)
        }
        let line: [UInt8]
        switch readLine(fd, deadline: deadline, limit: maxResponseBytes) {
        case .line(let bytes):
            line = bytes
        case .timedOut:
            throw ControlError(
                description: "no answer from the daemon on \(path) within \(ChildTimeText.seconds(timeout)) s: it is busy (a large reload?), stopped or stuck; the policy in force is unchanged until it answers (see its log)",
                exitCode: 69)
        case .closed:
            throw ControlError(description: "the daemon on \(path) closed the connection without an answer", exitCode: 69)
        case .tooLong:
            throw ControlError(description: "the daemon's answer is larger than \(maxResponseBytes >> 20) MiB", exitCode: 70)
        }
        do {
            return try JSONDecoder().decode(ControlResponse.self, from: Data(line))
        } catch {
            throw ControlError(description: "unreadable answer from the daemon (\(line.count) bytes)", exitCode: 70)
        }
    }

    package static func connect(_ path: String) throws(ControlError) -> Int32 {
        do {
            return try UnixStream.connect(path)
        } catch {
            if error.errno == ENAMETOOLONG {
                throw ControlError(description: "control socket path is longer than \(UnixStream.maximumPathBytes) bytes: \(path)", exitCode: 64)
            }
            guard error.call == .connect else { throw ControlError(description: "\(error)", exitCode: 71) }
            let code = error.errno
            let hint = code == EACCES ? " (root only)" : code == ENOENT || code == ECONNREFUSED ? " (is `mssclamp run` running?)" : ""
            throw ControlError(description: "cannot connect to \(path): \(error.reason)\(hint)", exitCode: code == EACCES ? 77 : 69)
        }
    }

    package static func address(_ path: String) throws(ControlError) -> sockaddr_un {
        guard let address = UnixStream.address(path) else {
            throw ControlError(description: "control socket path is longer than \(UnixStream.maximumPathBytes) bytes: \(path)", exitCode: 64)
        }
        return address
    }

    package enum LineResult {
        case line([UInt8])
        case timedOut
        case closed
        case tooLong
    }

    /// Reads up to the first newline, waiting with poll until the deadline.
    package static func readLine(_ fd: Int32, deadline: Int64, limit: Int) -> LineResult {
        var data: [UInt8] = []
        var searched = 0
        while true {
            switch UnixStream.receive(fd, maximum: 65_536, deadline: deadline) {
            case .timedOut: return .timedOut
            case .closed: return data.isEmpty ? .closed : .line(data)
            case .bytes(let bytes): data += bytes
            }
            if let newline = data[searched...].firstIndex(of: 0x0a) { return .line(Array(data[..<newline])) }
            searched = data.count
            if data.count > limit { return .tooLong }
        }
    }

    /// Writes everything before the deadline; false on an error (EPIPE included: never a signal).
    package static func write(_ fd: Int32, _ bytes: [UInt8], deadline: Int64) -> Bool {
        UnixStream.write(fd, bytes, deadline: deadline)
    }
}

/// "10", "2.5": seconds for messages.
enum ChildTimeText {
    static func seconds(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(value) }
}
