// Independent, deliberately naive re-implementations used as test oracles: byte-pair checksums and a plain
// option scan, sharing no code with MSSWire.

enum Oracle {
    /// Ones' complement sum of big-endian 16-bit words, folded.
    static func sum(_ bytes: some Collection<UInt8>) -> UInt32 {
        var total: UInt32 = 0
        var iterator = bytes.makeIterator()
        while let high = iterator.next() {
            let low = iterator.next() ?? 0
            total += UInt32(high) << 8 | UInt32(low)
            total = (total & 0xffff) + (total >> 16)
        }
        return total
    }

    static func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    /// Where the TCP header starts and where the IP packet ends, for well-formed fixtures.
    static func tcpBounds(_ packet: [UInt8]) -> (start: Int, end: Int) {
        if packet[0] >> 4 == 4 {
            return (Int(packet[0] & 0x0f) * 4, Int(u16(packet, 2)))
        }
        var next = packet[6]
        var offset = 40
        while next != 6 {
            let length = next == 44 ? 8 : (Int(packet[offset + 1]) + 1) * 8
            next = packet[offset]
            offset += length
        }
        return (offset, 40 + Int(u16(packet, 4)))
    }

    /// The pseudo-header bytes for the TCP segment of `packet`.
    static func pseudoHeader(_ packet: [UInt8]) -> [UInt8] {
        let (start, end) = tcpBounds(packet)
        let length = end - start
        if packet[0] >> 4 == 4 {
            return Array(packet[12..<20]) + [0, 6, UInt8(length >> 8), UInt8(length & 0xff)]
        }
        return Array(packet[8..<40]) + [0, 0, UInt8(length >> 8), UInt8(length & 0xff), 0, 0, 0, 6]
    }

    /// The TCP checksum computed from scratch (the field taken as zero).
    static func tcpChecksum(_ packet: [UInt8]) -> UInt16 {
        let (start, end) = tcpBounds(packet)
        var segment = Array(packet[start..<end])
        segment[16] = 0
        segment[17] = 0
        let folded = sum(pseudoHeader(packet) + segment)
        return ~UInt16(folded)
    }

    static func storedTCPChecksum(_ packet: [UInt8]) -> UInt16 {
        u16(packet, tcpBounds(packet).start + 16)
    }

    static func tcpChecksumValid(_ packet: [UInt8]) -> Bool {
        let (start, end) = tcpBounds(packet)
        return sum(pseudoHeader(packet) + packet[start..<end]) == 0xffff
    }

    static func ipv4HeaderChecksumValid(_ packet: [UInt8]) -> Bool {
        packet[0] >> 4 != 4 || sum(packet[0..<Int(packet[0] & 0x0f) * 4]) == 0xffff
    }

    /// Byte offsets (from the packet start) of every MSS value, by a plain scan.
    static func mssValueOffsets(_ packet: [UInt8]) -> [Int] {
        let start = tcpBounds(packet).start
        let end = start + Int(packet[start + 12] >> 4) * 4
        var offsets: [Int] = []
        var index = start + 20
        while index < end {
            switch packet[index] {
            case 0: index = end
            case 1: index += 1
            default:
                if packet[index] == 2 { offsets.append(index + 2) }
                index += Int(packet[index + 1])
            }
        }
        return offsets
    }

    static func mssValues(_ packet: [UInt8]) -> [UInt16] {
        mssValueOffsets(packet).map { u16(packet, $0) }
    }

    /// What a receiver reads, written from Linux's `tcp_parse_options` and nothing of MSSWire: options up
    /// to end-of-list or the first one it cannot walk (a kind byte with no length byte, a length below 2,
    /// or one running past the header); the MSS options of length 4 among them. Returns the offsets of
    /// their values and where the reading stopped (the packet offset of the first unread byte, or the end
    /// of the header).
    static func receiverView(_ packet: [UInt8]) -> (valueOffsets: [Int], stop: Int) {
        let start = tcpBounds(packet).start
        let end = start + Int(packet[start + 12] >> 4) * 4
        var offsets: [Int] = []
        var index = start + 20
        while index < end {
            let kind = packet[index]
            if kind == 0 { return (offsets, index) }
            if kind == 1 {
                index += 1
                continue
            }
            if end - index < 2 { return (offsets, index) }
            let size = Int(packet[index + 1])
            if size < 2 || size > end - index { return (offsets, index) }
            if kind == 2 && size == 4 { offsets.append(index + 2) }
            index += size
        }
        return (offsets, end)
    }

    /// The MSS values a receiver reads.
    static func receiverMSS(_ packet: [UInt8]) -> [UInt16] {
        receiverView(packet).valueOffsets.map { u16(packet, $0) }
    }

    /// The checksum field as checksum offload leaves it: the folded pseudo-header sum, not complemented.
    static func partialChecksumSeed(_ packet: [UInt8]) -> UInt16 {
        UInt16(sum(pseudoHeader(packet)))
    }

    static func setTCPChecksum(_ packet: inout [UInt8], _ value: UInt16) {
        let start = tcpBounds(packet).start
        packet[start + 16] = UInt8(value >> 8)
        packet[start + 17] = UInt8(value & 0xff)
    }
}
