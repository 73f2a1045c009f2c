import MSSSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A client session with charon over its VICI socket: one command at a time (VICI has no request ids),
/// events in between. Events that arrive while a command runs are kept for `nextEvent`, in order.
public final class VICIConnection {
    let fd: Int32
    let path: String
    var buffer: [UInt8] = []
    var pending: [(name: String, message: VICIMessage)] = []
    /// The uid of the process that serves the socket (SO_PEERCRED).
    public let serverUID: UInt32

    /// Events kept while a command runs, at most: charon streams one `list-sa` per IKE_SA, and other events
    /// meanwhile are few; more means something floods the socket.
    public static let maximumPending = 100_000

    /// Connects and checks who serves the socket: only a process of one of `serverUIDs` (root's charon)
    /// is believed, since what it reports decides which addresses get which ceiling.
    public init(path: String, serverUIDs: Set<UInt32>) throws(VICIError) {
        self.path = path
        do {
            fd = try UnixStream.connect(path)
        } catch {
            throw VICIError("cannot connect to \(path): \(error.reason)")
        }
        let credentials: PeerCredentials
        do {
            credentials = try PeerCredentials(of: fd)
        } catch {
            close(fd)
            throw VICIError("cannot tell who serves \(path): \(error)")
        }
        guard serverUIDs.contains(credentials.uid) else {
            close(fd)
            throw VICIError(
                "\(path) is served by uid \(credentials.uid), not by root's charon: refused (whoever serves it would choose peers and ceilings)")
        }
        serverUID = credentials.uid
    }

    deinit { close(fd) }

    func send(_ packet: VICIPacket, deadline: Int64) throws(VICIError) {
        let bytes = try packet.encoded()
        guard UnixStream.write(fd, bytes, deadline: deadline) else {
            throw VICIError("charon did not take a \(packet.name ?? "VICI") packet on \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The next packet, or nil when none came by the deadline.
    func receive(deadline: Int64) throws(VICIError) -> VICIPacket? {
        func fill(_ count: Int) throws(VICIError) -> Bool {
            while buffer.count < count {
                switch UnixStream.receive(fd, maximum: 65_536, deadline: deadline) {
                case .timedOut: return false
                case .closed: throw VICIError("charon closed \(path)")
                case .bytes(let bytes): buffer += bytes
                }
            }
            return true
        }
        guard try fill(4) else { return nil }
        let length = try VICIPacket.length(header: Array(buffer.prefix(4)))
        guard try fill(4 + length) else { return nil }
        defer { buffer.removeFirst(4 + length) }
        return try VICIPacket(decoding: buffer[4..<4 + length])
    }

    func keep(_ packet: VICIPacket) throws(VICIError) {
        guard pending.count < Self.maximumPending else {
            throw VICIError("more than \(Self.maximumPending) events queued on \(path)")
        }
        pending.append((packet.name ?? "", packet.message))
    }

    /// Runs a command; `streaming` names the event the command streams its results in (`list-sa` for
    /// `list-sas`), which must be registered first.
    public func request(
        _ command: String, _ message: VICIMessage = VICIMessage(), streaming event: String? = nil,
        timeoutMilliseconds: Int64 = 10_000
    ) throws(VICIError) -> (response: VICIMessage, streamed: [VICIMessage]) {
        let deadline = monotonicMilliseconds() + timeoutMilliseconds
        try send(VICIPacket(.commandRequest, name: command, message: message), deadline: deadline)
        var streamed: [VICIMessage] = []
        while true {
            guard let packet = try receive(deadline: deadline) else {
                throw VICIError("no answer to \(command) from charon within \(timeoutMilliseconds) ms")
            }
            switch packet.type {
            case .commandResponse:
                return (packet.message, streamed)
            case .commandUnknown:
                throw VICIError("charon does not know the command \(command)")
            case .event where packet.name == event:
                guard streamed.count < Self.maximumPending else { throw VICIError("\(command) streamed too much") }
                streamed.append(packet.message)
            case .event:
                try keep(packet)
            default:
                throw VICIError("an unexpected \(packet.type) packet during \(command)")
            }
        }
    }

    /// Registers for an event; false when charon has no such event (an older charon).
    public func register(_ event: String, timeoutMilliseconds: Int64 = 10_000) throws(VICIError) -> Bool {
        let deadline = monotonicMilliseconds() + timeoutMilliseconds
        try send(VICIPacket(.eventRegister, name: event), deadline: deadline)
        while true {
            guard let packet = try receive(deadline: deadline) else {
                throw VICIError("no answer to registering \(event) within \(timeoutMilliseconds) ms")
            }
            switch packet.type {
            case .eventConfirm: return true
            case .eventUnknown: return false
            case .event: try keep(packet)
            default: throw VICIError("an unexpected \(packet.type) packet while registering \(event)")
            }
        }
    }

    /// The next event, waiting up to `timeoutMilliseconds`; nil when none came.
    public func nextEvent(timeoutMilliseconds: Int64) throws(VICIError) -> (name: String, message: VICIMessage)? {
        if !pending.isEmpty { return pending.removeFirst() }
        guard let packet = try receive(deadline: monotonicMilliseconds() + timeoutMilliseconds) else { return nil }
        guard packet.type == .event else { throw VICIError("an unexpected \(packet.type) packet between commands") }
        return (packet.name ?? "", packet.message)
    }
}
