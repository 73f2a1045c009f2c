import Testing

@testable import MSSWire
import WireFixtures

@Suite("Malformed corpus: counted with a reason, untouched but for what the receiver reads")
struct MalformedCorpusTests {
    /// Each case: a description, the bytes, and the outcome expected.
    static let corpus: [(String, [UInt8], RewriteOutcome)] = {
        var cases: [(String, [UInt8], RewriteOutcome)] = []
        func mutate(_ base: [UInt8], _ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var copy = base
            change(&copy)
            return copy
        }
        let syn = Fixtures.linuxSYN
        cases.append(("empty", [], .malformed(.truncatedIPHeader)))
        cases.append(("IHL 4", mutate(syn) { $0[0] = 0x44 }, .malformed(.badIHL)))
        cases.append(("IHL 15 beyond packet", mutate(Array(syn[0..<40])) { $0[0] = 0x4f }, .malformed(.badIHL)))
        cases.append(("version 5", mutate(syn) { $0[0] = 0x55 }, .malformed(.badIPVersion)))
        cases.append(("total length beyond bytes", mutate(syn) { $0[3] = 0xff }, .malformed(.badTotalLength)))
        cases.append(("data offset 4", mutate(syn) { $0[32] = 0x40 }, .malformed(.badDataOffset)))
        cases.append(("data offset beyond packet", mutate(syn) { $0[32] = 0xf0 }, .malformed(.badDataOffset)))
        // The receiver has read MSS 1460 before these malformations: it is clamped, the rest untouched.
        let read = { (reason: MalformedReason) in RewriteOutcome.clampedMalformed(from: 1460, to: 1360, count: 1, reason: reason) }
        cases.append(("option length 0", mutate(syn) { $0[45] = 0 }, read(.badOptionLength)))  // sackOK len
        cases.append(("option length 1", mutate(syn) { $0[45] = 1 }, read(.badOptionLength)))
        cases.append(("option past header", mutate(syn) { $0[47] = 40 }, read(.badOptionLength)))  // ts len
        // An MSS of length 5 is skipped by the receiver, which then reads garbage: no MSS at all.
        cases.append(("MSS length 5", mutate(syn) { $0[41] = 5 }, .malformed(.badMSSOptionLength)))
        cases.append(("MSS first, length 0 later", mutate(syn) { $0[40] = 1; $0[41] = 1; $0[42] = 1; $0[43] = 1; $0[45] = 0 }, .malformed(.badOptionLength)))
        for cut in [1, 10, 19, 25, 39] {
            // Truncated inside the IP or TCP header, with the IP length fixed up to match.
            let bytes = mutate(Array(syn[0..<cut])) { bytes in
                if bytes.count >= 4 { bytes[2] = 0; bytes[3] = UInt8(bytes.count) }
            }
            let expected: RewriteOutcome = cut < 20 ? .malformed(.truncatedIPHeader) : .malformed(.truncatedTCPHeader)
            cases.append(("truncated at \(cut)", bytes, expected))
        }
        cases.append(("captured short of total length", Array(syn[0..<50]), .malformed(.badTotalLength)))
        cases.append(("IPv6 truncated", Array(Fixtures.linuxSYNv6[0..<39]), .malformed(.truncatedIPHeader)))
        cases.append((
            "IPv6 payload beyond bytes", Array(Fixtures.linuxSYNv6.dropLast(8)), .malformed(.badPayloadLength)
        ))
        cases.append((
            "IPv6 extension past end", mutate(Fixtures.extensionHeadersSYNv6) { $0[49] = 30 },
            .malformed(.truncatedExtensionHeader)
        ))
        cases.append(("IPv4 non-first fragment", mutate(syn) { $0[6] = 0x00; $0[7] = 0xb9 }, .fragment))
        cases.append((
            "IPv6 fragment offset 1480", mutate(Fixtures.extensionHeadersSYNv6) { $0[58] = 0x05; $0[59] = 0xc8 },
            .fragment
        ))
        return cases
    }()

    @Test(arguments: corpus.indices)
    func countedAndUntouched(index: Int) {
        let (name, bytes, expected) = Self.corpus[index]
        let (outcome, after) = rewritten(bytes, ceiling: 1360)
        #expect(outcome == expected, "\(name)")
        guard outcome.modifiedPacket else {
            #expect(after == bytes, "\(name) must stay byte-identical")
            return
        }
        // Only the MSS value the receiver reads and the checksum changed. The mutation left the checksum
        // stale; with it made right first, it must still be right after the rewrite.
        var fixed = bytes
        Oracle.setTCPChecksum(&fixed, Oracle.tcpChecksum(fixed))
        #expect(Oracle.tcpChecksumValid(rewritten(fixed, ceiling: 1360).1), "\(name)")
        let view = Oracle.receiverView(bytes)
        let checksumAt = Oracle.tcpBounds(bytes).start + 16
        var allowed: Set<Int> = [checksumAt, checksumAt + 1]
        for offset in view.valueOffsets { allowed.formUnion([offset, offset + 1]) }
        #expect(differingOffsets(bytes, after).isSubset(of: allowed), "\(name)")
        #expect(Array(after[view.stop...]) == Array(bytes[view.stop...]), "\(name): bytes from the malformation on")
        #expect(Oracle.receiverMSS(after) == [1360], "\(name)")
    }

    /// The four receiver traps of issue 11: what the receiver reads ends at the ceiling, checksum valid.
    @Test(arguments: Fixtures.receiverTraps.indices)
    func receiverTrapsAreClamped(index: Int) {
        let trap = Fixtures.receiverTraps[index]
        #expect(Oracle.tcpChecksumValid(trap.bytes), "fixture checksum")
        #expect(Oracle.ipv4HeaderChecksumValid(trap.bytes))
        #expect(Oracle.receiverMSS(trap.bytes) == trap.readMSS, "fixture as the receiver reads it")
        let (outcome, after) = rewritten(trap.bytes, ceiling: 1360, ceiling6: 1340)
        let ceiling: UInt16 = trap.bytes[0] >> 4 == 4 ? 1360 : 1340
        #expect(outcome.modifiedPacket, "\(trap.name): \(outcome)")
        #expect(Oracle.receiverMSS(after) == trap.readMSS.map { min($0, ceiling) }, "\(trap.name)")
        #expect(Oracle.tcpChecksumValid(after), "\(trap.name)")
        let view = Oracle.receiverView(trap.bytes)
        #expect(Array(after[view.stop...]) == Array(trap.bytes[view.stop...]), "\(trap.name): untouched from the malformation on")
    }

    @Test func firstFragmentIsClampedButNeverGrown() {
        var first = Fixtures.linuxSYN
        first[6] = 0x20  // MF set, offset 0
        first.withUnsafeMutableBytes { MutableIPv4Header(unchecked: $0).fillHeaderChecksum() }
        let (outcome, after) = rewritten(first, ceiling: 1360)
        #expect(outcome == .clamped(from: 1460, to: 1360, count: 1))
        #expect(Oracle.tcpChecksumValid(after))
        var bare = Fixtures.noMSSSYN
        bare[6] = 0x20
        bare.withUnsafeMutableBytes { MutableIPv4Header(unchecked: $0).fillHeaderChecksum() }
        #expect(rewritten(bare, ceiling: 1360) == (.missingMSS(.firstFragment), bare))
    }
}

@Suite("Rewrite properties on random valid SYNs")
struct RewritePropertyTests {
    static let seeds: [UInt64] = [1, 2, 3, 0xdead_beef, 0x0123_4567_89ab_cdef]

    @Test(arguments: seeds)
    func properties(seed: UInt64) {
        var random = RandomSYN(seed: seed)
        var outcomes: Set<OutcomeKind> = []
        var clampedMalformed = 0
        for iteration in 0..<4_000 {
            let packet = random.packet()
            let ceiling = UInt16(random.int(0...5) == 0 ? random.int(88...65535) : random.int(88...1500))
            let insert = random.bool(0.8)
            let settings = RewriteSettings(insertMissing: insert)
            let context = "seed \(seed) iteration \(iteration) ceiling \(ceiling)"
            #expect(Oracle.tcpChecksumValid(packet), "generator: \(context)")

            let (outcome, after) = rewritten(packet, ceiling: ceiling, settings: settings)
            outcomes.insert(outcome.kind)
            if case .clampedMalformed = outcome { clampedMalformed += 1 }
            let before = Oracle.receiverMSS(packet)

            // What the receiver reads after the rewrite is never above the ceiling.
            #expect(Oracle.receiverMSS(after).allSatisfy { $0 <= ceiling }, "\(context): \(outcome)")

            // The checksum, whatever path produced it, equals a full recomputation.
            #expect(Oracle.storedTCPChecksum(after) == Oracle.tcpChecksum(after), "\(context)")
            #expect(Oracle.ipv4HeaderChecksumValid(after), "\(context)")

            switch outcome {
            case .inserted(let mss):
                #expect(before.isEmpty)
                #expect(Oracle.receiverMSS(after) == [mss], "\(context)")
                #expect(mss == min(ceiling, packet[0] >> 4 == 4 ? 536 : 1220))
                #expect(after.count == packet.count + 4)
            default:
                // MSS never rises: each option the receiver reads ends at min(before, ceiling).
                #expect(Oracle.receiverMSS(after) == before.map { min($0, ceiling) }, "\(context)")
                // Nothing outside those MSS values and the checksum changed: nothing the receiver does not
                // read (from a malformation on), no MSS of the wrong length.
                let checksumAt = Oracle.tcpBounds(packet).start + 16
                var allowed: Set<Int> = [checksumAt, checksumAt + 1]
                for offset in Oracle.receiverView(packet).valueOffsets { allowed.formUnion([offset, offset + 1]) }
                #expect(after.count == packet.count)
                #expect(differingOffsets(packet, after).isSubset(of: allowed), "\(context)")
                if !outcome.modifiedPacket { #expect(after == packet, "\(context)") }
            }

            // Idempotent: a second pass changes nothing more.
            let (second, again) = rewritten(after, ceiling: ceiling, settings: settings)
            #expect(!second.modifiedPacket, "\(context): \(second)")
            #expect(again == after, "\(context)")

            // Checksum not ready: the field holds the pseudo-header sum; a modified packet leaves complete.
            var partial = packet
            Oracle.setTCPChecksum(&partial, Oracle.partialChecksumSeed(partial))
            let (partialOutcome, partialAfter) = rewritten(
                partial, ceiling: ceiling, settings: RewriteSettings(insertMissing: insert, checksumReady: false))
            #expect(partialOutcome == outcome, "\(context)")
            if partialOutcome.modifiedPacket {
                #expect(partialAfter == after, "\(context): full recompute must match the incremental result")
            } else {
                #expect(partialAfter == partial, "\(context)")
            }
        }
        // The generator reaches every path the properties talk about.
        #expect(outcomes.isSuperset(of: [.clamped, .alreadyLow, .inserted, .missingMSS, .malformed]))
        #expect(clampedMalformed > 0, "no packet had an MSS clamped before a malformation")
    }

    /// Random damage to valid packets never traps, and an unmodified outcome means identical bytes.
    @Test(arguments: seeds)
    func damagedPacketsAreHandled(seed: UInt64) {
        var random = RandomSYN(seed: seed ^ 0xfeed)
        for _ in 0..<4_000 {
            var packet = random.packet()
            for _ in 0..<random.int(1...4) {
                switch random.int(0...2) {
                case 0: packet[random.int(0...packet.count - 1)] = UInt8(random.int(0...255))
                case 1: packet.removeLast(random.int(0...packet.count - 1))
                default: packet[random.int(0...min(packet.count - 1, 70))] ^= 1 << UInt8(random.int(0...7))
                }
                if packet.isEmpty { break }
            }
            let (outcome, after) = rewritten(packet, ceiling: 1360)
            if !outcome.modifiedPacket { #expect(after == packet) }
        }
    }

    @Test func incrementalChecksumMatchesRecomputeAtEveryOffset() {
        var random = SplitMix64(state: 42)
        for _ in 0..<2_000 {
            var data = (0..<Int.random(in: 2...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let checksum = ~UInt16(Oracle.sum(data))
            let offset = Int.random(in: 0...data.count - 2, using: &random)
            let old = Oracle.u16(data, offset)
            let new = UInt16.random(in: 0...0xffff, using: &random)
            data[offset] = UInt8(new >> 8)
            data[offset + 1] = UInt8(new & 0xff)
            let updated = InternetChecksum.update(checksum, old: old, new: new, oddOffset: offset % 2 == 1)
            #expect(updated == ~UInt16(Oracle.sum(data)))
        }
    }

    @Test func rfc1071Example() {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (folded).
        let bytes: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        bytes.withUnsafeBytes { #expect(InternetChecksum.fold(InternetChecksum.add($0)) == 0xddf2) }
        // Odd length: the last byte is padded with zero.
        bytes.dropLast().withUnsafeBytes { #expect(InternetChecksum.fold(InternetChecksum.add($0)) == 0xdcfb) }
    }
}
