import Testing

@testable import MSSWire
import WireFixtures

/// The `tiny_mss` rule: a SYN whose smallest MSS the receiver reads is below 536 (IPv4) or 1220 (IPv6).
@Suite("Tiny MSS")
struct TinyMSSTests {
    /// `packet` with every MSS option set to `values` in order (the last value repeats).
    static func withMSS(_ packet: [UInt8], _ values: [UInt16]) -> [UInt8] {
        var bytes = packet
        for (index, offset) in Oracle.mssValueOffsets(packet).enumerated() {
            let value = values[min(index, values.count - 1)]
            bytes[offset] = UInt8(value >> 8)
            bytes[offset + 1] = UInt8(value & 0xff)
        }
        return bytes
    }

    static func segment(_ packet: [UInt8]) -> SYNSegment? {
        packet.withUnsafeBytes { raw in
            if case .syn(let segment) = SYNSegment.classify(raw) { return segment }
            return nil
        }
    }

    @Test(arguments: [
        (UInt16(535), true), (536, false), (88, true), (1460, false), (1, true),
    ])
    func ipv4Threshold(mss: UInt16, tiny: Bool) throws {
        let segment = try #require(Self.segment(Self.withMSS(Fixtures.linuxSYN, [mss])))
        #expect(segment.lowestMSS == mss)
        #expect(segment.hasTinyMSS == tiny, "MSS \(mss)")
    }

    @Test(arguments: [(UInt16(1219), true), (1220, false), (536, true), (1440, false)])
    func ipv6Threshold(mss: UInt16, tiny: Bool) throws {
        let segment = try #require(Self.segment(Self.withMSS(Fixtures.linuxSYNv6, [mss])))
        #expect(segment.hasTinyMSS == tiny, "MSS \(mss)")
    }

    /// Two MSS options: the smallest decides, wherever it sits.
    @Test func theSmallestOfSeveralOptionsCounts() throws {
        #expect(Oracle.mssValueOffsets(Fixtures.twoMSSSYN).count == 2)
        for values: [UInt16] in [[1460, 500], [500, 1460]] {
            let segment = try #require(Self.segment(Self.withMSS(Fixtures.twoMSSSYN, values)))
            #expect(segment.lowestMSS == 500 && segment.highestMSS == 1460, "\(values)")
            #expect(segment.hasTinyMSS, "\(values)")
        }
        let normal = try #require(Self.segment(Self.withMSS(Fixtures.twoMSSSYN, [1460, 1400])))
        #expect(!normal.hasTinyMSS)
    }

    /// No MSS option: nothing to call tiny (the rewrite may insert one; that is not the SYN as it came).
    @Test func aSYNWithoutMSSIsNotTiny() throws {
        let segment = try #require(Self.segment(Fixtures.noMSSSYN))
        #expect(segment.mssCount == 0 && segment.lowestMSS == 0 && !segment.hasTinyMSS)
    }
}
