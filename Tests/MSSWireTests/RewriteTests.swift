import Testing

@testable import MSSWire
import WireFixtures

/// Rewrites a copy of `packet` and returns the outcome and the new bytes.
func rewritten(
    _ packet: [UInt8], ceiling: UInt16, ceiling6: UInt16? = nil, settings: RewriteSettings = RewriteSettings()
) -> (RewriteOutcome, [UInt8]) {
    var bytes = packet
    let outcome = MSSRewrite.rewrite(
        &bytes, ceilingIPv4: ceiling, ceilingIPv6: ceiling6 ?? ceiling, settings: settings)
    return (outcome, bytes)
}

/// Offsets where two equally long packets differ.
func differingOffsets(_ a: [UInt8], _ b: [UInt8]) -> Set<Int> {
    Set(zip(a, b).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset))
}

@Suite("Rewrite on real stacks' handshakes")
struct RewriteFixtureTests {
    @Test func fixturesCarryValidChecksums() {
        for fixture in Fixtures.all {
            #expect(Oracle.tcpChecksumValid(fixture.bytes), "\(fixture.name)")
            #expect(Oracle.ipv4HeaderChecksumValid(fixture.bytes), "\(fixture.name)")
        }
    }

    @Test(arguments: Fixtures.all.filter { $0.mss != nil }.map(\.name))
    func clampTouchesOnlyMSSAndChecksum(name: String) throws {
        let fixture = try #require(Fixtures.all.first { $0.name == name })
        let (outcome, after) = rewritten(fixture.bytes, ceiling: 1360)
        let lowered = Oracle.mssValues(fixture.bytes).filter { $0 > 1360 }.count
        #expect(outcome == .clamped(from: fixture.mss!, to: 1360, count: lowered))
        #expect(after.count == fixture.bytes.count)
        #expect(Oracle.mssValues(after).allSatisfy { $0 <= 1360 })
        #expect(Oracle.tcpChecksumValid(after))
        #expect(Oracle.storedTCPChecksum(after) == Oracle.tcpChecksum(after))
        let checksumAt = Oracle.tcpBounds(fixture.bytes).start + 16
        var allowed: Set<Int> = [checksumAt, checksumAt + 1]
        for offset in Oracle.mssValueOffsets(fixture.bytes) { allowed.formUnion([offset, offset + 1]) }
        #expect(differingOffsets(fixture.bytes, after).isSubset(of: allowed))
    }

    @Test func synAckIsClampedLikeSyn() {
        let (outcome, after) = rewritten(Fixtures.linuxSYNACK, ceiling: 1300)
        #expect(outcome == .clamped(from: 1460, to: 1300, count: 1))
        #expect(Oracle.mssValues(after) == [1300])
        let (outcome6, after6) = rewritten(Fixtures.linuxSYNACKv6, ceiling: 1360, ceiling6: 1280)
        #expect(outcome6 == .clamped(from: 1440, to: 1280, count: 1))
        #expect(Oracle.tcpChecksumValid(after6))
    }

    @Test func everyMSSOptionIsClampedIncludingOddOffsets() {
        let offsets = Oracle.mssValueOffsets(Fixtures.twoMSSSYN)
        #expect(offsets.map { ($0 - 20) % 2 } == [0, 1])  // the second value sits at an odd TCP offset
        let (outcome, after) = rewritten(Fixtures.twoMSSSYN, ceiling: 1360)
        #expect(outcome == .clamped(from: 1460, to: 1360, count: 2))
        #expect(Oracle.mssValues(after) == [1360, 1360])
        #expect(Oracle.tcpChecksumValid(after))
        // Only one of the two is above this ceiling: the other keeps its value.
        let (partial, partialAfter) = rewritten(Fixtures.twoMSSSYN, ceiling: 1420)
        #expect(partial == .clamped(from: 1460, to: 1420, count: 1))
        #expect(Oracle.mssValues(partialAfter) == [1420, 1400])
        #expect(Oracle.tcpChecksumValid(partialAfter))
    }

    @Test func neverRaises() {
        for fixture in Fixtures.all where fixture.mss != nil {
            let (outcome, after) = rewritten(fixture.bytes, ceiling: 1460)
            #expect(outcome == .alreadyLow(mss: fixture.mss!), "\(fixture.name)")
            #expect(after == fixture.bytes)
            let (higher, unchanged) = rewritten(fixture.bytes, ceiling: 9000)
            #expect(higher == .alreadyLow(mss: fixture.mss!))
            #expect(unchanged == fixture.bytes)
        }
    }

    @Test func fastOpenSYNWithDataIsClamped() {
        let (outcome, after) = rewritten(Fixtures.fastOpenSYN, ceiling: 1360)
        #expect(outcome == .clamped(from: 1460, to: 1360, count: 1))
        #expect(Array(after.suffix(18)) == Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(Oracle.tcpChecksumValid(after))
    }

    @Test func insertsMissingOptionWithKernelValues() {
        // IPv4: min(ceiling, 536) per RFC 1122.
        let (outcome, after) = rewritten(Fixtures.noMSSSYN, ceiling: 1360)
        #expect(outcome == .inserted(mss: 536))
        #expect(after.count == Fixtures.noMSSSYN.count + 4)
        #expect(Int(Oracle.u16(after, 2)) == after.count)
        #expect(after[32] >> 4 == 6)  // data offset grew by one word
        #expect(Array(after[40..<44]) == [2, 4, 0x02, 0x18])
        #expect(Oracle.tcpChecksumValid(after))
        #expect(Oracle.ipv4HeaderChecksumValid(after))
        // A ceiling below 536 wins.
        #expect(rewritten(Fixtures.noMSSSYN, ceiling: 500).0 == .inserted(mss: 500))
        // Existing options move behind the new one, untouched.
        let (_, withOptions) = rewritten(Fixtures.wscaleOnlySYN, ceiling: 1360)
        #expect(Array(withOptions[40..<44]) == [2, 4, 0x02, 0x18])
        #expect(Array(withOptions[44...]) == Array(Fixtures.wscaleOnlySYN[40...]))
        #expect(Oracle.tcpChecksumValid(withOptions))
    }

    @Test func insertsIPv6DefaultOf1220() {
        var packet = Fixtures.linuxSYNv6
        // Turn the MSS option into four NOPs: a SYN without MSS, still valid.
        for offset in 60..<64 { packet[offset] = 1 }
        Oracle.setTCPChecksum(&packet, Oracle.tcpChecksum(packet))
        let (outcome, after) = rewritten(packet, ceiling: 1360, ceiling6: 1340)
        #expect(outcome == .inserted(mss: 1220))
        #expect(Int(Oracle.u16(after, 4)) == after.count - 40)
        #expect(Oracle.mssValues(after) == [1220])
        #expect(Oracle.tcpChecksumValid(after))
    }

    @Test func insertionGuards() {
        #expect(rewritten(Fixtures.noMSSSYN, ceiling: 1360, settings: .init(insertMissing: false)).0
            == .missingMSS(.insertionDisabled))
        // A SYN carrying data gets no option (Fast Open without MSS).
        var withData = Fixtures.noMSSSYN + [1, 2, 3]
        withData[3] += 3
        withData.withUnsafeMutableBytes { MutableIPv4Header(unchecked: $0).fillHeaderChecksum() }
        Oracle.setTCPChecksum(&withData, Oracle.tcpChecksum(withData))
        let (payloadOutcome, payloadAfter) = rewritten(withData, ceiling: 1360)
        #expect(payloadOutcome == .missingMSS(.hasPayload))
        #expect(payloadAfter == withData)
        // A 60-byte TCP header has no room for another word (a 56-byte one still has).
        var full = Array(Fixtures.noMSSSYN[0..<40]) + [UInt8](repeating: 1, count: 40)
        full[3] = UInt8(full.count)
        full[32] = 15 << 4
        full.withUnsafeMutableBytes { MutableIPv4Header(unchecked: $0).fillHeaderChecksum() }
        Oracle.setTCPChecksum(&full, Oracle.tcpChecksum(full))
        let (roomOutcome, roomAfter) = rewritten(full, ceiling: 1360)
        #expect(roomOutcome == .missingMSS(.noRoom))
        #expect(roomAfter == full)
        var almost = Array(full.dropLast(4))
        almost[3] = UInt8(almost.count)
        almost[32] = 14 << 4
        almost.withUnsafeMutableBytes { MutableIPv4Header(unchecked: $0).fillHeaderChecksum() }
        Oracle.setTCPChecksum(&almost, Oracle.tcpChecksum(almost))
        let (grownOutcome, grown) = rewritten(almost, ceiling: 1360)
        #expect(grownOutcome == .inserted(mss: 536))
        #expect(grown[32] >> 4 == 15)
        #expect(Oracle.tcpChecksumValid(grown))
        // Without spare capacity in the caller's buffer nothing is written.
        var exact = Fixtures.noMSSSYN
        var length = exact.count
        let outcome = exact.withUnsafeMutableBytes {
            MSSRewrite.rewrite($0, length: &length, ceilingIPv4: 1360, ceilingIPv6: 1340)
        }
        #expect(outcome == .missingMSS(.noCapacity))
        #expect(exact == Fixtures.noMSSSYN)
    }

    @Test func checksumNotReadyGetsAFullChecksum() {
        for fixture in Fixtures.all {
            var partial = fixture.bytes
            Oracle.setTCPChecksum(&partial, Oracle.partialChecksumSeed(partial))
            let (outcome, after) = rewritten(partial, ceiling: 1360, settings: .init(checksumReady: false))
            #expect(outcome.modifiedPacket, "\(fixture.name)")
            #expect(Oracle.tcpChecksumValid(after), "\(fixture.name)")
        }
    }

    @Test func notSYNAndNotTCP() {
        var ack = Fixtures.linuxSYN
        ack[33] = 0x10  // ACK only
        #expect(rewritten(ack, ceiling: 1360) == (.notSYN, ack))
        var synRst = Fixtures.linuxSYN
        synRst[33] = 0x06
        #expect(rewritten(synRst, ceiling: 1360).0 == .notSYN)
        var udp = Fixtures.linuxSYN
        udp[9] = 17
        #expect(rewritten(udp, ceiling: 1360) == (.notTCP, udp))
        var ah = Fixtures.linuxSYNv6
        ah[6] = 51  // IPsec AH: its ICV covers TCP, so the packet must stay as it is
        #expect(rewritten(ah, ceiling: 1360) == (.notTCP, ah))
    }

    @Test func linkPaddingIsIgnoredAndKept() {
        let padded = Fixtures.linuxSYN + [0, 0, 0, 0]
        let (outcome, after) = rewritten(padded, ceiling: 1360)
        #expect(outcome == .clamped(from: 1460, to: 1360, count: 1))
        #expect(Array(after.suffix(4)) == [0, 0, 0, 0])
        #expect(Oracle.tcpChecksumValid(Array(after.dropLast(4))))
    }
}
