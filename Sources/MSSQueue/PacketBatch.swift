/// The messages of a received batch that carried no packet.
public struct QueueMessageCounts: Sendable, Hashable {
    /// Error acknowledgements: a verdict for an id the kernel no longer holds, a refused reconfiguration.
    public var errors: UInt64 = 0
    /// Messages shorter than their headers or with attributes running past their end.
    public var malformed: UInt64 = 0

    public init() {}
}

extension QueueSocket {
    /// Calls `body` for every queued packet of the last `received` datagrams, in order. `body` appends the
    /// packet's verdict; whenever the batch then has no room left for the largest verdict, it is sent at once,
    /// so `body` can always append. The caller sends what is left at the end.
    ///
    /// A packet's `payload` points into its receive slot and is valid only inside `body`.
    /// - Returns: the messages that were not packets.
    /// - Throws: the first failed send, once the datagram it happened in has been walked.
    @inlinable
    public func forEachPacket(
        received: Int, verdicts: inout VerdictBatch, _ body: (QueuedPacket, inout VerdictBatch) -> Void
    ) throws(QueueError) -> QueueMessageCounts {
        var counts = QueueMessageCounts()
        for index in 0..<received {
            let (datagram, slotEnd) = datagram(index)
            var sendError: QueueError?
            QueueMessageParser.forEachMessage(in: datagram, slotEnd: slotEnd) { message in
                switch message {
                case .packet(let packet):
                    body(packet, &verdicts)
                    if !verdicts.hasRoomForLargestVerdict {
                        do throws(QueueError) { try send(&verdicts) } catch { sendError = error }
                    }
                case .error:
                    counts.errors &+= 1
                case .malformed:
                    counts.malformed &+= 1
                case .other:
                    break
                }
            }
            if let sendError { throw sendError }
        }
        return counts
    }
}
