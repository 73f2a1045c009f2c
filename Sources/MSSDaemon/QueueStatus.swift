import Foundation

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

    /// Reads the status of every bound queue in this network namespace.
    public static func read(path: String = "/proc/net/netfilter/nfnetlink_queue") -> [KernelQueueStatus] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).compactMap { UInt64($0) }
            // queue, portid, waiting, copy mode, copy range, queue dropped, user dropped, id sequence, 1
            guard fields.count >= 8, let queue = UInt16(exactly: fields[0]) else { return nil }
            return KernelQueueStatus(
                queue: queue, portID: UInt32(truncatingIfNeeded: fields[1]), waiting: fields[2],
                queueDropped: fields[5], userDropped: fields[6], lastID: fields[7])
        }
    }
}
