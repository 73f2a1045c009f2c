/// Netlink and nfnetlink_queue wire layout (linux/netlink.h, linux/netfilter/nfnetlink_queue.h). Netlink
/// headers are in host byte order; nfnetlink attribute values are big-endian. CMSSClampShim checks the
/// sizes and numbers below against the kernel headers at build time.
enum NetlinkLayout {
    static let messageHeaderLength = 16
    static let nfgenLength = 4
    static let attributeHeaderLength = 4
    static let attributeTypeMask: UInt16 = 0x3fff

    static let typeError: UInt16 = 2  // NLMSG_ERROR
    static let flagRequest: UInt16 = 1  // NLM_F_REQUEST

    /// (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET and | NFQNL_MSG_VERDICT.
    static let typePacket: UInt16 = 3 << 8 | 0
    static let typeVerdict: UInt16 = 3 << 8 | 1

    @inline(__always) static func align(_ length: Int) -> Int { (length &+ 3) & ~3 }
}

/// nfnetlink_queue attribute numbers (enum nfqnl_attr_type).
enum QueueAttribute {
    static let packetHeader: UInt16 = 1
    static let verdictHeader: UInt16 = 2
    static let mark: UInt16 = 3
    static let inInterface: UInt16 = 5
    static let outInterface: UInt16 = 6
    static let payload: UInt16 = 10
    static let capturedLength: UInt16 = 13
    static let skbInfo: UInt16 = 14
}

/// Verdicts (linux/netfilter.h).
public enum Verdict: UInt32, Sendable {
    case drop = 0
    case accept = 1
}

/// One queued packet, parsed in place from a receive slot. `payload` points into that slot.
public struct QueuedPacket {
    /// The kernel's packet id, echoed in the verdict.
    public var id: UInt32 = 0
    public var hook: UInt8 = 0
    /// The IP packet (copy mode packet, up to the copy range).
    public var payload: UnsafeMutableRawBufferPointer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    /// Bytes from the start of the payload to the end of the receive slot: room to grow in place.
    public var capacity = 0
    /// The packet length before the copy range cut it (NFQA_CAP_LEN), or the payload length.
    public var originalLength = 0
    /// NFQA_SKB_INFO flags.
    public var skbInfo: UInt32 = 0
    /// Input and output interface indexes, 0 when absent.
    public var inInterface: UInt32 = 0
    public var outInterface: UInt32 = 0
    public var mark: UInt32 = 0
    /// Whether a packet header (and so an id) was present.
    public var hasID = false

    public init() {}

    /// The kernel cut the payload to the copy range: it must never be returned modified.
    @inlinable public var isTruncated: Bool { originalLength > payload.count }
    /// False when the TCP checksum field holds only the offload seed (NFQA_SKB_CSUMNOTREADY).
    @inlinable public var checksumReady: Bool { skbInfo & 1 == 0 }
}

/// What one netlink message in a received datagram turned out to be.
public enum QueueMessage {
    case packet(QueuedPacket)
    /// An error acknowledgement (for example a verdict for an id the kernel no longer holds).
    case error(errno: Int32)
    /// A message shorter than its headers or with attributes running past its end.
    case malformed
    case other(type: UInt16)
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always) fileprivate func hostU16(_ offset: Int) -> UInt16 {
        loadUnaligned(fromByteOffset: offset, as: UInt16.self)
    }
    @inline(__always) fileprivate func hostU32(_ offset: Int) -> UInt32 {
        loadUnaligned(fromByteOffset: offset, as: UInt32.self)
    }
    @inline(__always) fileprivate func beU32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}

/// Walks the netlink messages of one received datagram and parses queue messages in place.
public enum QueueMessageParser {
    /// Calls `body` for each message in `datagram`. Every step advances by at least one aligned header, so
    /// the walk ends on any bytes.
    /// - Parameters:
    ///   - datagram: the bytes received; the slot may continue after them (`slotEnd`).
    ///   - slotEnd: the end of the receive slot, which bounds in-place growth of a payload.
    @inline(__always)
    public static func forEachMessage(
        in datagram: UnsafeMutableRawBufferPointer, slotEnd: Int, _ body: (QueueMessage) -> Void
    ) {
        var offset = 0
        while offset + NetlinkLayout.messageHeaderLength <= datagram.count {
            let length = Int(datagram.hostU32(offset))
            guard length >= NetlinkLayout.messageHeaderLength else {
                body(.malformed)
                return
            }
            // A message cut short (MSG_TRUNC) is still parsed: its packet id comes first, so the packet can
            // get a verdict; its payload is then missing and it is accepted unmodified.
            let available = min(length, datagram.count - offset)
            let message = UnsafeMutableRawBufferPointer(rebasing: datagram[offset..<offset + available])
            // A payload may grow in place only into room that belongs to nobody: past the last message of
            // the datagram, up to the slot's end. A message followed by another one may use only its own
            // bytes, or an inserted option would overwrite the next message.
            let followed = offset + NetlinkLayout.align(length) < datagram.count
            body(parse(message, capacityEnd: followed ? min(available, NetlinkLayout.align(length)) : slotEnd - offset))
            guard available == length else { return }
            offset += NetlinkLayout.align(length)
        }
    }

    /// Parses one netlink message (header included).
    /// - Parameter capacityEnd: the end of the writable slot, relative to the message start.
    @inline(__always)
    public static func parse(_ message: UnsafeMutableRawBufferPointer, capacityEnd: Int) -> QueueMessage {
        let type = message.hostU16(4)
        if type == NetlinkLayout.typeError {
            // struct nlmsgerr: int error (negative errno), then the offending header.
            guard message.count >= NetlinkLayout.messageHeaderLength + 4 else { return .malformed }
            let code = Int32(bitPattern: message.hostU32(NetlinkLayout.messageHeaderLength))
            return .error(errno: -code)
        }
        guard type == NetlinkLayout.typePacket else { return .other(type: type) }
        var packet = QueuedPacket()
        var offset = NetlinkLayout.messageHeaderLength + NetlinkLayout.nfgenLength
        while offset + NetlinkLayout.attributeHeaderLength <= message.count {
            let length = Int(message.hostU16(offset))
            let attribute = message.hostU16(offset + 2) & NetlinkLayout.attributeTypeMask
            guard length >= NetlinkLayout.attributeHeaderLength, offset + length <= message.count else {
                return packet.hasID ? .packet(packet) : .malformed
            }
            let value = offset + NetlinkLayout.attributeHeaderLength
            let valueLength = length - NetlinkLayout.attributeHeaderLength
            switch attribute {
            case QueueAttribute.packetHeader where valueLength >= 7:
                // struct nfqnl_msg_packet_hdr: be32 id, be16 hw protocol, u8 hook (packed).
                packet.id = message.beU32(value)
                packet.hook = message[value + 6]
                packet.hasID = true
            case QueueAttribute.payload:
                packet.payload = UnsafeMutableRawBufferPointer(rebasing: message[value..<value + valueLength])
                packet.capacity = capacityEnd - value
            case QueueAttribute.capturedLength where valueLength >= 4:
                packet.originalLength = Int(message.beU32(value))
            case QueueAttribute.skbInfo where valueLength >= 4:
                packet.skbInfo = message.beU32(value)
            case QueueAttribute.inInterface where valueLength >= 4:
                packet.inInterface = message.beU32(value)
            case QueueAttribute.outInterface where valueLength >= 4:
                packet.outInterface = message.beU32(value)
            case QueueAttribute.mark where valueLength >= 4:
                packet.mark = message.beU32(value)
            default:
                break
            }
            offset += NetlinkLayout.align(length)
        }
        guard packet.hasID else { return .malformed }
        // NFQA_CAP_LEN is only sent when the packet was cut; otherwise the payload is the whole packet.
        packet.originalLength = max(packet.originalLength, packet.payload.count)
        return .packet(packet)
    }
}

/// Verdicts for a whole batch, built in one buffer and sent with one `send`: one NFQNL_MSG_VERDICT
/// message per packet, with the rewritten payload attached only where the packet changed.
public struct VerdictBatch: ~Copyable {
    public let storage: UnsafeMutableRawBufferPointer
    public private(set) var used = 0
    public private(set) var count = 0
    public let queue: UInt16

    /// The largest single verdict: headers plus a 64 KiB payload.
    public static let largestMessage = 16 + 4 + 12 + 4 + 65_536 + 8
    /// The largest payload a verdict carries: a 64 KiB packet grown by an MSS option.
    public static let largestPayload = 65_536 + 4

    public init(queue: UInt16, capacity: Int = 1 << 20) {
        precondition(capacity >= Self.largestMessage, "a verdict buffer must hold at least one full payload")
        self.queue = queue
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit { storage.deallocate() }

    public var isEmpty: Bool { count == 0 }
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0..<used]) }

    /// True when a verdict carrying `payloadLength` bytes still fits.
    @inline(__always)
    public func hasRoom(forPayload payloadLength: Int) -> Bool {
        used + 36 + NetlinkLayout.align(payloadLength) + 4 <= storage.count
    }

    /// True when a verdict with the largest payload still fits: whatever the next packet becomes, its verdict
    /// can be appended.
    @inline(__always)
    public var hasRoomForLargestVerdict: Bool { hasRoom(forPayload: Self.largestPayload) }

    /// Appends a verdict for packet `id`; with `payload`, the kernel replaces the packet with those bytes.
    /// The caller checks `hasRoom` first and sends the batch when it is full.
    @inline(__always)
    public mutating func append(id: UInt32, verdict: Verdict, payload: UnsafeRawBufferPointer? = nil) {
        let payloadAttribute = payload.map { NetlinkLayout.attributeHeaderLength + $0.count } ?? 0
        let length = NetlinkLayout.messageHeaderLength + NetlinkLayout.nfgenLength + 12 + payloadAttribute
        let start = used
        // struct nlmsghdr (host order): length, type, flags, sequence, port id.
        storage.storeBytes(of: UInt32(length), toByteOffset: start, as: UInt32.self)
        storage.storeBytes(of: NetlinkLayout.typeVerdict, toByteOffset: start + 4, as: UInt16.self)
        storage.storeBytes(of: NetlinkLayout.flagRequest, toByteOffset: start + 6, as: UInt16.self)
        storage.storeBytes(of: UInt64(0), toByteOffset: start + 8, as: UInt64.self)
        // struct nfgenmsg: family AF_UNSPEC, version 0, queue number (big-endian).
        storage.storeBytes(of: UInt16(0), toByteOffset: start + 16, as: UInt16.self)
        storage.storeBytes(of: queue.bigEndian, toByteOffset: start + 18, as: UInt16.self)
        // NFQA_VERDICT_HDR: be32 verdict, be32 id.
        storage.storeBytes(of: UInt16(12), toByteOffset: start + 20, as: UInt16.self)
        storage.storeBytes(of: QueueAttribute.verdictHeader, toByteOffset: start + 22, as: UInt16.self)
        storage.storeBytes(of: verdict.rawValue.bigEndian, toByteOffset: start + 24, as: UInt32.self)
        storage.storeBytes(of: id.bigEndian, toByteOffset: start + 28, as: UInt32.self)
        if let payload {
            storage.storeBytes(of: UInt16(payloadAttribute), toByteOffset: start + 32, as: UInt16.self)
            storage.storeBytes(of: QueueAttribute.payload, toByteOffset: start + 34, as: UInt16.self)
            if let base = payload.baseAddress {
                (storage.baseAddress! + start + 36).copyMemory(from: base, byteCount: payload.count)
            }
            // Zero the alignment padding so no stale bytes reach the kernel.
            for pad in length..<NetlinkLayout.align(length) { storage[start + pad] = 0 }
        }
        used += NetlinkLayout.align(length)
        count += 1
    }

    public mutating func reset() {
        used = 0
        count = 0
    }
}
