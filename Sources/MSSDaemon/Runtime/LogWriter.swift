import Logging
import MSSSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's output (log lines on stderr, reports on stdout) goes through a bounded queue and one
/// writer thread, so no thread of the daemon ever waits for whoever reads its output. A full pipe
/// nobody reads, a stalled journald, a terminal on hold: lines beyond the queue are dropped and counted
/// (and the count is written once the reader catches up), but a worker that logs a clamp, the control
/// server and the main loop never block. A reader that went away is EPIPE (SIGPIPE is ignored).
///
/// Until `start()` (after the capability drop: a thread made before it would keep every capability)
/// lines are written directly.
public final class LogWriter: @unchecked Sendable {
    public static let shared = LogWriter()

    /// Lines waiting for the writer; past it, lines are dropped.
    static let capacity = 10_000

    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var lines: [(fd: Int32, text: [UInt8])] = []
    private var dropped = 0
    private var started = false
    private var stopping = false
    private var thread: NamedThread?
    /// Lines dropped over the daemon's life.
    public let droppedTotal = Atomic<UInt64>(0)

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    /// Writes `text` to `fd` (1 or 2) without ever blocking the caller once the writer runs.
    public func write(_ text: String, to fd: Int32 = 2) {
        let bytes = Array(text.utf8)
        pthread_mutex_lock(&mutex)
        guard started else {
            pthread_mutex_unlock(&mutex)
            Self.writeAll(fd, bytes)
            return
        }
        if lines.count >= Self.capacity {
            dropped += 1
            droppedTotal.add(1, ordering: .relaxed)
        } else {
            lines.append((fd, bytes))
            pthread_cond_signal(&condition)
        }
        pthread_mutex_unlock(&mutex)
    }

    /// Starts the writer thread; from now on `write` only queues.
    public func start() {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !started else { return }
        started = true
        stopping = false
        thread = NamedThread(name: "mssclamp-log") { [self] in serve() }
    }

    /// Writes what is queued, for at most `seconds`, and goes back to direct writes.
    public func stop(seconds: Double = 2) {
        pthread_mutex_lock(&mutex)
        guard started else {
            pthread_mutex_unlock(&mutex)
            return
        }
        stopping = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        let deadline = monotonicMilliseconds() + Int64(seconds * 1000)
        while monotonicMilliseconds() < deadline {
            pthread_mutex_lock(&mutex)
            let done = !started
            pthread_mutex_unlock(&mutex)
            if done { break }
            usleep(5_000)
        }
        // A writer stuck on a reader that never reads is left behind; the process is about to end.
    }

    private func serve() {
        while true {
            pthread_mutex_lock(&mutex)
            while lines.isEmpty && dropped == 0 && !stopping { pthread_cond_wait(&condition, &mutex) }
            if lines.isEmpty && dropped == 0 && stopping {
                started = false
                pthread_mutex_unlock(&mutex)
                return
            }
            let batch = lines
            lines.removeAll(keepingCapacity: true)
            let lost = dropped
            dropped = 0
            pthread_mutex_unlock(&mutex)
            if lost > 0 {
                Self.writeAll(2, Array("mssclamp: \(lost) output line(s) dropped: their reader did not keep up\n".utf8))
            }
            for line in batch { Self.writeAll(line.fd, line.text) }
        }
    }

    /// A blocking write of everything; errors (EPIPE: the reader left) end it quietly.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}

/// swift-log's handler for the daemon: StreamLogHandler's line format, written through `LogWriter`.
public struct DaemonLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let pretty = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        LogWriter.shared.write("\(Self.timestamp()) \(event.level) \(label):\(pretty) [\(event.source)] \(event.message)\n")
    }

    /// "2026-11-23T06:37:17+0000", as StreamLogHandler writes it.
    static func timestamp() -> String {
        var buffer = [Int8](repeating: 0, count: 32)
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
