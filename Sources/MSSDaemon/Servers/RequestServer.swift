import MSSSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Limits that keep one client from stalling or exhausting a `RequestServer`.
struct ServerLimits: Sendable {
    /// Bytes a request may have before its terminator; more gets `tooLarge` and the connection closes.
    var maxRequestBytes = 64 << 10
    /// Open connections; past it the oldest connection that has not finished its request is closed.
    var maxClients = 512
    /// Seconds from accept to a complete request.
    var requestSeconds = 5.0
    /// Seconds to deliver a response once it is ready (a client that does not read is dropped).
    var responseSeconds = 10.0
    /// Requests handled at the same time; complete requests beyond it wait their turn.
    var concurrentHandlers = 4
}

/// How the bytes received so far frame a request.
enum RequestFraming: Sendable, Equatable {
    /// Need more bytes.
    case incomplete
    /// The request is the first `length` bytes.
    case complete(length: Int)
}

/// Who is on the other end of a connection (Unix sockets: the peer's uid and gid from SO_PEERCRED, its
/// supplementary groups from SO_PEERGROUPS, both as they were when it connected).
struct ClientCredentials: Sendable {
    var uid: UInt32?
    var gid: UInt32?
    var groups: [UInt32] = []
}

/// A small poll(2) server for one-request-per-connection protocols (the control socket's JSON lines and
/// the metrics endpoint's HTTP/1.0): one thread multiplexes every connection with non-blocking sockets,
/// deadlines and size limits, and hands complete requests to a few handler threads, so a slow request
/// (a 100,000-peer reload) never holds up the others.
///
/// Faults it is built for: clients that hang up before the answer (writes use MSG_NOSIGNAL, errors close
/// the connection), that never finish a request or never read the answer (deadlines), that send a huge
/// request (size limit), and that open hundreds of idle connections (the oldest idle one is evicted).
final class RequestServer: @unchecked Sendable {
    typealias Handler = @Sendable (_ request: [UInt8], _ client: ClientCredentials) -> [UInt8]

    let name: String
    private let listener: Int32
    private let limits: ServerLimits
    private let framing: @Sendable ([UInt8]) -> RequestFraming
    private let tooLarge: [UInt8]
    private let handler: Handler
    private let credentials: @Sendable (Int32) -> ClientCredentials
    private let stopFlag = Atomic(false)
    private var thread: NamedThread?
    /// Wakes the poll loop when a handler finishes: an eventfd-like pipe, written by handler threads.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let finished = Mutex<[(id: UInt64, response: [UInt8])]>([])
    private var handlers: JobQueue?
    /// Accepted connections over the server's life, for tests and the log.
    let accepted = Atomic<UInt64>(0)
    /// Connections closed for a deadline, size or eviction.
    let refused = Atomic<UInt64>(0)

    /// - Parameters:
    ///   - listener: a listening stream socket; the server owns and closes it.
    ///   - framing: decides when the bytes read so far hold a complete request.
    ///   - tooLarge: sent (best effort) to a client whose request exceeds the limit.
    ///   - credentials: who the client is, asked once per connection.
    init(
        name: String, listener: Int32, limits: ServerLimits, framing: @escaping @Sendable ([UInt8]) -> RequestFraming,
        tooLarge: [UInt8], credentials: @escaping @Sendable (Int32) -> ClientCredentials = { _ in ClientCredentials() },
        handler: @escaping Handler
    ) throws(DaemonError) {
        self.credentials = credentials
        self.name = name
        self.listener = listener
        self.limits = limits
        self.framing = framing
        self.tooLarge = tooLarge
        self.handler = handler
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0 else {
            throw DaemonError(message: "\(name): socketpair: \(String(cString: strerror(errno)))", exitCode: 71)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK)
    }

    /// Starts the poll thread and the handler threads (after the capability drop, like every thread).
    func start() {
        handlers = JobQueue(threads: limits.concurrentHandlers)
        thread = NamedThread { [self] in serve() }
    }

    /// Stops accepting, closes every connection and the listener, after the handlers still running have
    /// finished (their answers are discarded).
    func stop() {
        stopFlag.store(true, ordering: .relaxed)
        wake()
        thread?.join()
        thread = nil
        handlers?.stop()
        handlers = nil
        close(listener)
        close(wakeRead)
        close(wakeWrite)
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = send(wakeWrite, &byte, 1, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
    }

    private enum Phase {
        case reading
        /// A complete request waits for a handler slot.
        case queued([UInt8])
        case handling
        case writing
    }

    private struct Connection {
        let id: UInt64
        let fd: Int32
        var phase: Phase = .reading
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        /// Monotonic milliseconds after which the connection is dropped (none while a handler runs).
        var deadline: Int64
        let credentials: ClientCredentials
    }

    private func serve() {
        var connections: [UInt64: Connection] = [:]
        var nextID: UInt64 = 1
        var running = 0
        var buffer = [UInt8](repeating: 0, count: 16 << 10)

        func drop(_ id: UInt64, refused isRefusal: Bool = true) {
            guard let connection = connections.removeValue(forKey: id) else { return }
            close(connection.fd)
            if isRefusal { refused.add(1, ordering: .relaxed) }
        }

        func dispatch(_ id: UInt64, _ request: [UInt8]) {
            guard let credentials = connections[id]?.credentials else { return }
            running += 1
            connections[id]?.phase = .handling
            connections[id]?.deadline = .max
            handlers?.async { [self] in
                let response = handler(request, credentials)
                finished.withLock { $0.append((id, response)) }
                wake()
            }
        }

        /// Moves a request to a handler, or queues it when every handler is busy.
        func submit(_ id: UInt64, _ request: [UInt8]) {
            if running < limits.concurrentHandlers {
                dispatch(id, request)
            } else {
                connections[id]?.phase = .queued(request)
            }
        }

        /// Sends what the socket takes; the connection closes when all is written or on any error.
        func flush(_ id: UInt64) {
            guard var connection = connections[id] else { return }
            while connection.written < connection.output.count {
                let sent = connection.output.withUnsafeBytes { raw in
                    send(connection.fd, raw.baseAddress! + connection.written, raw.count - connection.written,
                         Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                }
                if sent > 0 {
                    connection.written += sent
                } else if sent < 0 && (errno == EAGAIN || errno == EINTR) {
                    connections[id] = connection
                    return
                } else {
                    drop(id, refused: false)  // the client hung up: nothing to deliver to
                    return
                }
            }
            drop(id, refused: false)
        }

        while !stopFlag.load(ordering: .relaxed) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            var order: [UInt64] = []
            for (id, connection) in connections {
                switch connection.phase {
                case .reading: fds.append(pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0))
                case .writing: fds.append(pollfd(fd: connection.fd, events: Int16(POLLOUT), revents: 0))
                case .queued, .handling: continue
                }
                order.append(id)
            }
            let now = monotonicMilliseconds()
            let nearest = connections.values.map(\.deadline).min() ?? .max
            let wait = Int32(clamping: max(0, min(nearest == .max ? 500 : nearest - now, 500)))
            let ready = poll(&fds, nfds_t(fds.count), wait)
            if ready < 0 && errno != EINTR { usleep(10_000) }

            // Finished handlers: their answers go out.
            if fds[1].revents != 0 {
                while recv(wakeRead, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 {}
            }
            let done: [(id: UInt64, response: [UInt8])] = finished.withLock { list in
                let taken = list
                list.removeAll()
                return taken
            }
            for (id, response) in done {
                running -= 1
                guard connections[id] != nil else { continue }
                connections[id]?.phase = .writing
                connections[id]?.output = response
                connections[id]?.deadline = monotonicMilliseconds() + Int64(limits.responseSeconds * 1000)
                flush(id)
            }
            // Queued requests take the free handler slots, oldest first.
            if running < limits.concurrentHandlers {
                let waiting = connections.values.compactMap { connection -> (UInt64, [UInt8])? in
                    if case .queued(let request) = connection.phase { return (connection.id, request) }
                    return nil
                }.sorted { $0.0 < $1.0 }
                for (id, request) in waiting.prefix(limits.concurrentHandlers - running) { dispatch(id, request) }
            }

            for (index, id) in order.enumerated() {
                let entry = fds[index + 2]
                guard entry.revents != 0, let connection = connections[id] else { continue }
                if case .writing = connection.phase {
                    flush(id)
                    continue
                }
                // Reading: take what is there; a hang-up before a complete request just closes.
                var closed = false
                while true {
                    let count = recv(connection.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                    if count > 0 {
                        connections[id]?.input += buffer[0..<count]
                        if (connections[id]?.input.count ?? 0) > limits.maxRequestBytes { break }
                        continue
                    }
                    if count < 0 && (errno == EAGAIN || errno == EINTR) { break }
                    closed = true
                    break
                }
                guard let input = connections[id]?.input else { continue }
                let framed = framing(input)
                if case .complete(let length) = framed, length <= limits.maxRequestBytes {
                    submit(id, Array(input[0..<length]))
                } else if input.count > limits.maxRequestBytes || framed != .incomplete {
                    // Past the limit, whether or not its terminator came in the same read.
                    connections[id]?.phase = .writing
                    connections[id]?.output = tooLarge
                    connections[id]?.deadline = monotonicMilliseconds() + 1000
                    refused.add(1, ordering: .relaxed)
                    flush(id)
                } else if closed {
                    drop(id, refused: false)
                }
            }

            // Deadlines: requests that never completed, answers nobody reads.
            let after = monotonicMilliseconds()
            for (id, connection) in connections where connection.deadline <= after { drop(id) }

            // New connections; at the limit the oldest one still reading its request makes room.
            if fds[0].revents != 0 {
                while true {
                    // Nothing waiting, or a failure the next poll reports again.
                    guard let client = try? ListeningSocket.accept(listener) else { break }
                    accepted.add(1, ordering: .relaxed)
                    if connections.count >= limits.maxClients {
                        let idle = connections.values.filter {
                            if case .reading = $0.phase { return true }
                            return false
                        }.min { $0.id < $1.id }
                        if let idle {
                            drop(idle.id)
                        } else {
                            close(client)
                            refused.add(1, ordering: .relaxed)
                            continue
                        }
                    }
                    connections[nextID] = Connection(
                        id: nextID, fd: client,
                        deadline: monotonicMilliseconds() + Int64(limits.requestSeconds * 1000),
                        credentials: credentials(client))
                    nextID += 1
                }
            }
        }
        for connection in connections.values { close(connection.fd) }
    }
}
