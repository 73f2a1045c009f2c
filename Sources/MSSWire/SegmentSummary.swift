/// What the black-hole detector needs from a sampled TCP data segment: its flow, its sequence number and
/// its size. Read from the first bytes of an IP packet (a log sample is cut to a snap length, so the
/// lengths come from the IP header, never from the bytes present).
public struct SegmentSummary: Sendable, Hashable {
    /// The flow, in the direction of this segment: source and destination address (4 or 16 bytes) and ports.
    public struct Flow: Sendable, Hashable {
        public var source: [UInt8]
        public var destination: [UInt8]
        public var sourcePort: UInt16
        public var destinationPort: UInt16

        public init(source: [UInt8], destination: [UInt8], sourcePort: UInt16, destinationPort: UInt16) {
            self.source = source
            self.destination = destination
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
        }
    }

    public var family: IPFamily
    public var flow: Flow
    public var sequence: UInt32
    /// The whole IP packet as the IP header gives it (IPv4 total length, IPv6 40 + payload length).
    public var packetLength: Int
    /// TCP payload bytes.
    public var dataLength: Int

    /// Parses the start of an IPv4 or IPv6 packet carrying TCP with no extension headers; nil for anything
    /// else (fragments included, and a header cut short).
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 1 else { return nil }
        let version = bytes.u8(0) >> 4
        let ipHeader: Int
        if version == 4 {
            guard bytes.count >= IPv4Field.fixedLength else { return nil }
            ipHeader = Int(bytes.u8(0) & 0x0f) * 4
            let fragment = bytes.u16(6) & 0x3fff  // MF and the offset: not a whole packet
            guard ipHeader >= IPv4Field.fixedLength, bytes.u8(9) == 6, fragment == 0 else { return nil }
            family = .ipv4
            packetLength = Int(bytes.u16(2))
            guard bytes.count >= ipHeader + TCPField.fixedLength else { return nil }
            flow = Flow(
                source: Array(bytes[12..<16]), destination: Array(bytes[16..<20]),
                sourcePort: bytes.u16(ipHeader), destinationPort: bytes.u16(ipHeader + 2))
        } else if version == 6 {
            ipHeader = IPv6Field.fixedLength
            guard bytes.count >= ipHeader + TCPField.fixedLength, bytes.u8(6) == 6 else { return nil }
            family = .ipv6
            packetLength = ipHeader + Int(bytes.u16(4))
            flow = Flow(
                source: Array(bytes[8..<24]), destination: Array(bytes[24..<40]),
                sourcePort: bytes.u16(ipHeader), destinationPort: bytes.u16(ipHeader + 2))
        } else {
            return nil
        }
        sequence = bytes.u32(ipHeader + 4)
        let tcpHeader = Int(bytes.u8(ipHeader + 12) >> 4) * 4
        guard tcpHeader >= TCPField.fixedLength, packetLength >= ipHeader + tcpHeader else { return nil }
        dataLength = packetLength - ipHeader - tcpHeader
    }
}
