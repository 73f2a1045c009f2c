import MSSQueue
import Testing

/// The kernel's table of queues (/proc/net/netfilter/nfnetlink_queue), parsed from text.
@Suite("Kernel queue status")
struct KernelQueueStatusTests {
    /// Assembled by hand in the kernel's format (nfqnl_seq_show: "%5u %6u %5u %1u %5u %5u %5u %8u %2d").
    static let table = """
            0 2876543210     3 2 65535     0    17 123456789  1
          300     42     0 2 65535     5     0        7  1

        """

    @Test func readsEveryBoundQueue() {
        let statuses = KernelQueueStatus.parse(Self.table)
        #expect(
            statuses == [
                KernelQueueStatus(
                    queue: 0, portID: 2_876_543_210, waiting: 3, queueDropped: 0, userDropped: 17, lastID: 123_456_789),
                KernelQueueStatus(queue: 300, portID: 42, waiting: 0, queueDropped: 5, userDropped: 0, lastID: 7),
            ])
    }

    /// A line cut short or a queue number beyond 16 bits is no queue of ours.
    @Test func skipsLinesThatAreNoQueue() {
        #expect(KernelQueueStatus.parse("    1     2     3 2 65535     0\n70000 1 0 2 65535 0 0 1 1\n").isEmpty)
    }

    @Test func anUnreadableTableListsNoQueue() {
        #expect(KernelQueueStatus.read(path: "/nonexistent/nfnetlink_queue").isEmpty)
    }
}
