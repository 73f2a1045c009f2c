import Foundation
import MSSSystem
import MSSVICI
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A VICI server on a real Unix socket that plays charon for one client at a time: it confirms every event
/// registration, answers `list-sas` by streaming `listing` as `list-sa` events, sends events on demand,
/// and can drop its client (a charon restart) or stop (charon gone).
public final class ScriptedCharon: @unchecked Sendable {
    public let path: String
    let listener: Int32
    let client = Mutex<Int32>(-1)
    let stopping = Atomic(false)
    public let registrations = Mutex<[String]>([])
    let listingStore = Mutex<[VICIMessage]>([])
    var thread: Thread?
    let done = DispatchSemaphore(value: 0)

    /// What `list-sas` streams.
    public var listing: [VICIMessage] {
        get { listingStore.withLock { $0 } }
        set { listingStore.withLock { $0 = newValue } }
    }

    public init(path: String) throws {
        self.path = path
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard var address = UnixStream.address(path) else { throw VICIError("path too long") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { throw VICIError("cannot listen on \(path)") }
        listener = fd
        let thread = Thread { [self] in
            serve()
            done.signal()
        }
        self.thread = thread
        thread.start()
    }

    deinit { stop() }

    /// Stops serving and removes the socket: a charon that is gone.
    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        done.wait()
        close(listener)
        unlink(path)
    }

    /// Closes the current client's connection (the listener stays: a restarted charon).
    public func dropClients() {
        client.withLock { fd in
            if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    public func send(event name: String, _ message: VICIMessage) {
        client.withLock { fd in
            guard fd >= 0, let bytes = try? VICIPacket(.event, name: name, message: message).encoded() else { return }
            _ = UnixStream.write(fd, bytes, deadline: monotonicMilliseconds() + 2000)
        }
    }

    func serve() {
        while !stopping.load(ordering: .relaxed) {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            client.withLock { $0 = fd }
            converse(fd)
            client.withLock { $0 = -1 }
            close(fd)
        }
    }

    /// Answers one client's packets until it goes or the server stops.
    func converse(_ fd: Int32) {
        var buffer: [UInt8] = []
        while !stopping.load(ordering: .relaxed) {
            switch UnixStream.receive(fd, maximum: 65_536, deadline: monotonicMilliseconds() + 50) {
            case .timedOut: continue
            case .closed: return
            case .bytes(let bytes): buffer += bytes
            }
            while buffer.count >= 4, let length = try? VICIPacket.length(header: Array(buffer.prefix(4))), buffer.count >= 4 + length {
                let packet = try? VICIPacket(decoding: buffer[4..<4 + length])
                buffer.removeFirst(4 + length)
                guard let packet else { return }
                for reply in answer(packet) {
                    guard let bytes = try? reply.encoded() else { continue }
                    client.withLock { _ in _ = UnixStream.write(fd, bytes, deadline: monotonicMilliseconds() + 2000) }
                }
            }
        }
    }

    func answer(_ packet: VICIPacket) -> [VICIPacket] {
        switch packet.type {
        case .eventRegister:
            registrations.withLock { $0.append(packet.name ?? "") }
            return [VICIPacket(.eventConfirm)]
        case .commandRequest where packet.name == "list-sas":
            return listing.map { VICIPacket(.event, name: "list-sa", message: $0) } + [VICIPacket(.commandResponse)]
        case .commandRequest:
            return [VICIPacket(.commandUnknown)]
        default:
            return []
        }
    }
}

/// A 0700 directory under /tmp for sockets, removed with what it holds.
public struct PrivateTemporaryDirectory {
    public let path: String

    public init() throws {
        var template = Array("/tmp/mssclamp-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw VICIError("mkdtemp failed") }
        path = String(cString: made)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
