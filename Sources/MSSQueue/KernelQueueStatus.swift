#if canImport(Glibc)
    import Glibc
#endif

/// One line of /proc/net/netfilter/nfnetlink_queue: the kernel's own view of a queue.
public struct KernelQueueStatus: Sendable, Hashable, Codable {
    public var queue: UInt16
    public var portID: UInt32
    /// Packets waiting for a verdict right now.
    public var waiting: UInt64
    /// Packets dropped because the queue was full (not counted with fail-open, which accepts them).
    public var queueDropped: UInt64
    /// Packets dropped because the netlink socket could not take them (receive buffer full).
    public var userDropped: UInt64
    /// The last packet id handed out.
    public var lastID: UInt64

    public init(
        queue: UInt16, portID: UInt32, waiting: UInt64, queueDropped: UInt64, userDropped: UInt64, lastID: UInt64
    ) {
        self.queue = queue
        self.portID = portID
        self.waiting = waiting
        self.queueDropped = queueDropped
        self.userDropped = userDropped
        self.lastID = lastID
    }

    /// The kernel's table of bound queues, for the network namespace of the reading process.
    public static let defaultPath = "/proc/net/netfilter/nfnetlink_queue"

    /// Reads the status of every bound queue in this network namespace (none when the file cannot be read:
    /// no queue bound since nfnetlink_queue was loaded, or no NFQUEUE support).
    public static func read(path: String = defaultPath) -> [KernelQueueStatus] {
        guard let text = Self.text(of: path) else { return [] }
        return parse(text)
    }

    /// The statuses in the text of the kernel's table, one line per queue.
    public static func parse(_ text: String) -> [KernelQueueStatus] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).compactMap { UInt64($0) }
            // queue, portid, waiting, copy mode, copy range, queue dropped, user dropped, id sequence, 1
            guard fields.count >= 8, let queue = UInt16(exactly: fields[0]) else { return nil }
            return KernelQueueStatus(
                queue: queue, portID: UInt32(truncatingIfNeeded: fields[1]), waiting: fields[2],
                queueDropped: fields[5], userDropped: fields[6], lastID: fields[7])
        }
    }

    /// The whole file at `path` (a /proc file reports no size: read until the end), nil when it cannot be read.
    private static func text(of path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes += chunk.prefix(count)
            if count < chunk.count { break }
        }
        guard ferror(file) == 0 else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
