import MSSProbe
import MSSWire
import Testing

/// The signature of a black hole in a sample of forwarded segments, and what it must not take for one.
@Suite("Black-hole signature")
struct BlackHoleSignatureTests {
    static func segment(sequence: UInt32, length: Int = 1420, port: UInt16 = 50000, destination: UInt8 = 3) -> SegmentSummary {
        var bytes = [UInt8](repeating: 0, count: 60)
        bytes[0] = 0x45
        bytes[2] = UInt8(length >> 8); bytes[3] = UInt8(length & 0xff)
        bytes[9] = 6
        bytes[12...15] = [203, 0, 113, 2]
        bytes[16...19] = [10, 9, 0, destination]
        bytes[20] = 0; bytes[21] = 80
        bytes[22] = UInt8(port >> 8); bytes[23] = UInt8(port & 0xff)
        for index in 0..<4 { bytes[24 + index] = UInt8(truncatingIfNeeded: sequence >> (24 - 8 * UInt32(index))) }
        bytes[32] = 8 << 4
        return bytes.withUnsafeBytes { SegmentSummary($0)! }
    }

    /// Feeds one segment at each time; returns every evidence produced.
    static func feed(_ signature: inout BlackHoleSignature, _ times: [Int64], sequence: UInt32 = 1000, length: Int = 1420) -> [BlackHoleSignature.Evidence] {
        times.compactMap { signature.observe(segment(sequence: sequence, length: length), at: $0) }
    }

    @Test func aBackedOffRetransmissionIsABlackHole() throws {
        var signature = BlackHoleSignature()
        // The segment, then Linux's retransmission timer: 200 ms, doubling.
        let found = Self.feed(&signature, [10_000, 10_210, 10_620, 11_440])
        let evidence = try #require(found.first)
        #expect(found.count == 1)
        #expect(evidence.destination == "10.9.0.3")
        #expect(evidence.packetLength == 1420 && evidence.sightings == 4 && evidence.sequence == 1000)
        #expect(evidence.gaps == [210, 410, 820])
        #expect(evidence.description.contains("203.0.113.2 port 80 -> 10.9.0.3 port 50000"))
        // Reported once per flow, however long it goes on.
        #expect(Self.feed(&signature, [13_080, 16_360]).isEmpty)
    }

    @Test func theFirstCopyMayBeAnAggregate() throws {
        var signature = BlackHoleSignature()
        // The sender's first copy crossed the host as one GSO packet of many segments; its retransmissions
        // are single segments. The evidence is a segment's size.
        #expect(signature.observe(Self.segment(sequence: 5, length: 64_000), at: 0) == nil)
        #expect(signature.observe(Self.segment(sequence: 69_000, length: 64_000), at: 1) == nil)
        let found = [220, 640, 1460].compactMap { signature.observe(Self.segment(sequence: 5, length: 1420), at: $0) }
        #expect(found.first?.packetLength == 1420)
    }

    @Test func fastRetransmitsAndDuplicatesAreNot() {
        var signature = BlackHoleSignature()
        // Copies a round trip apart (fast retransmit, a tail-loss probe), not backed off.
        #expect(Self.feed(&signature, [0, 20, 40, 60, 80]).isEmpty)
        var steady = BlackHoleSignature()
        // A timer that does not back off (a steady resend every second) is not a retransmission timer.
        #expect(Self.feed(&steady, [0, 1000, 1500, 1700]).isEmpty)
    }

    @Test func aFlowThatMovesOnIsNot() {
        var signature = BlackHoleSignature()
        // A bulk flow sampled ten times a second: every sample a new sequence number.
        var found: [BlackHoleSignature.Evidence] = []
        for step in 0..<600 {
            if let evidence = signature.observe(Self.segment(sequence: UInt32(step) * 14_000), at: Int64(step) * 100) { found.append(evidence) }
        }
        // One segment lost twice in the middle: three copies, still not four.
        found += Self.feed(&signature, [70_000, 70_300, 70_900], sequence: 99)
        found += [signature.observe(Self.segment(sequence: 100), at: 72_000)].compactMap { $0 }
        #expect(found.isEmpty)
    }

    @Test func smallSegmentsAreNeverEvidence() {
        var signature = BlackHoleSignature()
        #expect(Self.feed(&signature, [0, 200, 600, 1400, 3000], length: BlackHoleSignature.minimumPacket).isEmpty)
    }

    @Test func followsABoundedNumberOfFlows() {
        var signature = BlackHoleSignature()
        for port in 0..<(BlackHoleSignature.maximumFlows + 500) {
            _ = signature.observe(Self.segment(sequence: 1, port: UInt16(port)), at: Int64(port))
        }
        #expect(signature.followed <= BlackHoleSignature.maximumFlows)
    }
}
