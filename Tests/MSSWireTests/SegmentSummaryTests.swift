import Testing

@testable import MSSWire

/// The start of a data segment as a log sample carries it: the headers, cut at 128 bytes.
enum SampledSegment {
    static func ipv4(length: Int, sequence: UInt32, fragment: UInt16 = 0x4000, protocolNumber: UInt8 = 6, sourcePort: UInt16 = 80) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 128)
        bytes[0] = 0x45
        bytes[2] = UInt8(length >> 8); bytes[3] = UInt8(length & 0xff)
        bytes[6] = UInt8(fragment >> 8); bytes[7] = UInt8(fragment & 0xff)
        bytes[8] = 64; bytes[9] = protocolNumber
        bytes[12...15] = [203, 0, 113, 2]
        bytes[16...19] = [10, 9, 0, 3]
        tcp(&bytes, at: 20, sequence: sequence, sourcePort: sourcePort)
        return bytes
    }

    static func ipv6(length: Int, sequence: UInt32) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 128)
        bytes[0] = 0x60
        let payload = length - 40
        bytes[4] = UInt8(payload >> 8); bytes[5] = UInt8(payload & 0xff)
        bytes[6] = 6; bytes[7] = 64
        bytes[8...11] = [0x20, 0x01, 0x0d, 0xb8]; bytes[23] = 2
        bytes[24...27] = [0x20, 0x01, 0x0d, 0xb8]; bytes[39] = 3
        tcp(&bytes, at: 40, sequence: sequence, sourcePort: 443)
        return bytes
    }

    /// A TCP header with 12 bytes of options (timestamps): data offset 8.
    static func tcp(_ bytes: inout [UInt8], at offset: Int, sequence: UInt32, sourcePort: UInt16) {
        bytes[offset] = UInt8(sourcePort >> 8); bytes[offset + 1] = UInt8(sourcePort & 0xff)
        bytes[offset + 2] = 0xc3; bytes[offset + 3] = 0x50  // 50000
        for index in 0..<4 { bytes[offset + 4 + index] = UInt8(truncatingIfNeeded: sequence >> (24 - 8 * UInt32(index))) }
        bytes[offset + 12] = 8 << 4
        bytes[offset + 13] = 0x10  // ACK
    }
}

@Suite("Segment summaries of log samples")
struct SegmentSummaryTests {
    @Test func ipv4DataSegment() throws {
        let summary = try #require(SampledSegment.ipv4(length: 1420, sequence: 0xdead_beef).withUnsafeBytes { SegmentSummary($0) })
        #expect(summary.family == .ipv4)
        #expect(summary.packetLength == 1420)
        #expect(summary.dataLength == 1420 - 20 - 32)
        #expect(summary.sequence == 0xdead_beef)
        #expect(summary.flow.source == [203, 0, 113, 2] && summary.flow.destination == [10, 9, 0, 3])
        #expect(summary.flow.sourcePort == 80 && summary.flow.destinationPort == 50000)
    }

    @Test func ipv6DataSegment() throws {
        let summary = try #require(SampledSegment.ipv6(length: 1440, sequence: 7).withUnsafeBytes { SegmentSummary($0) })
        #expect(summary.family == .ipv6)
        #expect(summary.packetLength == 1440)
        #expect(summary.dataLength == 1440 - 40 - 32)
        #expect(summary.flow.destination.last == 3 && summary.flow.destination.count == 16)
    }

    @Test func refusesWhatIsNotAWholeTCPSegment() {
        let fragment = SampledSegment.ipv4(length: 1420, sequence: 1, fragment: 0x2000)  // MF
        let later = SampledSegment.ipv4(length: 1420, sequence: 1, fragment: 0x00b9)  // an offset
        let udp = SampledSegment.ipv4(length: 1420, sequence: 1, protocolNumber: 17)
        for bytes in [fragment, later, udp, Array(SampledSegment.ipv4(length: 1420, sequence: 1).prefix(30)), [0x70], []] {
            #expect(bytes.withUnsafeBytes { SegmentSummary($0) } == nil)
        }
        // A length shorter than its own headers.
        #expect(SampledSegment.ipv4(length: 40, sequence: 1).withUnsafeBytes { SegmentSummary($0) } == nil)
    }
}
