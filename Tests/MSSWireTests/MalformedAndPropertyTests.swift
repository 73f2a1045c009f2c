import Testing

@testable import MSSWire
import WireFixtures

@Suite("Malformed corpus: accepted byte-identical, with a reason")
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
        cases.append(("option length 0", mutate(syn) { $0[45] = 0 }, .malformed(.badOptionLength)))  // sackOK len
        cases.append(("option length 1", mutate(syn) { $0[45] = 1 }, .malformed(.badOptionLength)))
        cases.append(("option past header", mutate(syn) { $0[47] = 40 }, .malformed(.badOptionLength)))  // ts len
        cases.append(("MSS length 5", mutate(syn) { $0[41] = 5 }, .malformed(.badMSSOptionLength)))
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
    func acceptedUnmodified(index: Int) {
        let (name, bytes, expected) = Self.corpus[index]
        let (outcome, after) = rewritten(bytes, ceiling: 1360)
        #expect(outcome == expected, "\(name)")
        #expect(after == bytes, "\(name) must stay byte-identical")
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
        for iteration in 0..<4_000 {
            let packet = random.packet()
            let ceiling = UInt16(random.int(0...5) == 0 ? random.int(88...65535) : random.int(88...1500))
            let insert = random.bool(0.8)
            let settings = RewriteSettings(insertMissing: insert)
            let context = "seed \(seed) iteration \(iteration) ceiling \(ceiling)"
            #expect(Oracle.tcpChecksumValid(packet), "generator: \(context)")

            let (outcome, after) = rewritten(packet, ceiling: ceiling, settings: settings)
            outcomes.insert(outcome.kind)
            let before = Oracle.mssValues(packet)

            // The checksum, whatever path produced it, equals a full recomputation.
            #expect(Oracle.storedTCPChecksum(after) == Oracle.tcpChecksum(after), "\(context)")
            #expect(Oracle.ipv4HeaderChecksumValid(after), "\(context)")

            switch outcome {
            case .inserted(let mss):
                #expect(before.isEmpty)
                #expect(Oracle.mssValues(after) == [mss], "\(context)")
                #expect(mss == min(ceiling, packet[0] >> 4 == 4 ? 536 : 1220))
                #expect(after.count == packet.count + 4)
            default:
                // MSS never rises: each option ends at min(before, ceiling).
                #expect(Oracle.mssValues(after) == before.map { min($0, ceiling) }, "\(context)")
                // Nothing outside the MSS values and the checksum changed.
                let checksumAt = Oracle.tcpBounds(packet).start + 16
                var allowed: Set<Int> = [checksumAt, checksumAt + 1]
                for offset in Oracle.mssValueOffsets(packet) { allowed.formUnion([offset, offset + 1]) }
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
        #expect(outcomes.isSuperset(of: [.clamped, .alreadyLow, .inserted, .missingMSS]))
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
        var random = SeededGenerator(seed: 42)
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
