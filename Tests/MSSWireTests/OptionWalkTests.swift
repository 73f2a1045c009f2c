import Testing

@testable import MSSWire
import WireFixtures

@Suite("TCP option walk")
struct TCPOptionWalkTests {
    func kinds(_ options: [UInt8]) -> (kinds: [UInt8], failure: MalformedReason?) {
        options.withUnsafeBytes { area in
            let (options, failure) = TCPOptionWalk(area).collect()
            return (options.map(\.kind), failure)
        }
    }

    @Test func realStacks() {
        #expect(kinds(Array(Fixtures.linuxSYN[40...])).kinds == [2, 4, 8, 1, 3])
        #expect(kinds(Array(Fixtures.windowsSYN[40...])).kinds == [2, 1, 3, 1, 1, 4])
        // macOS ends with EOL: the walk stops there, padding is not an option.
        #expect(kinds(Array(Fixtures.macOSSYN[40...])).kinds == [2, 1, 3, 1, 1, 8, 4])
        #expect(kinds(Array(Fixtures.fastOpenSYN[40..<72])).kinds == [2, 4, 8, 1, 3, 34, 1, 1])
    }

    @Test func unknownOptionsPassThrough() {
        let options: [UInt8] = [200, 6, 1, 2, 3, 4, 2, 4, 0x05, 0xb4]
        let result = kinds(options)
        #expect(result.kinds == [200, 2])
        #expect(result.failure == nil)
        options.withUnsafeBytes { area in
            let unknown = TCPOptionWalk(area).collect().options.first
            #expect(unknown?.length == 6)
            #expect(unknown.map { Array($0.data) } == [1, 2, 3, 4])
        }
    }

    @Test(arguments: [
        ([8, 0, 1, 1] as [UInt8], MalformedReason.badOptionLength),  // length 0
        ([8, 1, 1, 1], .badOptionLength),  // length 1
        ([1, 1, 8, 10, 0, 0], .badOptionLength),  // runs past the header
        ([1, 1, 1, 3], .badOptionLength),  // kind without its length byte
        ([2, 3, 5, 1], .badMSSOptionLength),  // MSS with length 3
        ([2, 6, 5, 180, 0, 0], .badMSSOptionLength),  // MSS with length 6
    ])
    func malformed(options: [UInt8], reason: MalformedReason) {
        let result = kinds(options)
        #expect(result.failure == reason)
        options.withUnsafeBytes { area in
            #expect(TCPOptionSummary(scanning: area).failure == reason)
        }
    }

    /// An MSS of the wrong length is reported but skipped, as the receiver skips it: the walk goes on and
    /// a well-formed MSS after it is counted. A structural malformation ends the walk where it is.
    @Test func receiverSemantics() {
        ([2, 3, 5, 2, 4, 0x05, 0xb4, 1] as [UInt8]).withUnsafeBytes { area in
            let summary = TCPOptionSummary(scanning: area)
            #expect(summary.failure == .badMSSOptionLength)
            #expect(summary.mssCount == 1 && summary.highestMSS == 1460)
            #expect(summary.end == 8)
        }
        ([2, 4, 0x05, 0xb4, 8, 0, 2, 4, 0x05, 0xdc] as [UInt8]).withUnsafeBytes { area in
            let summary = TCPOptionSummary(scanning: area)
            #expect(summary.failure == .badOptionLength)
            #expect(summary.mssCount == 1 && summary.highestMSS == 1460, "the MSS after the stop is not read")
            #expect(summary.end == 4)
        }
    }

    /// End-of-list ends what the receiver reads (Linux `tcp_parse_options` returns there): an MSS option
    /// after it is neither counted nor clamped, and the bytes after it stay as they are.
    @Test func nothingAfterEndOfListIsRead() {
        ([2, 4, 0x05, 0xb4, 0, 2, 4, 0x23, 0x28, 0] as [UInt8]).withUnsafeBytes { area in
            let summary = TCPOptionSummary(scanning: area)
            #expect(summary.mssCount == 1 && summary.highestMSS == 1460)
            #expect(summary.failure == nil)
            #expect(summary.end == 4)
        }
        #expect(kinds([0, 2, 4, 0x23, 0x28]).kinds.isEmpty)
        // The Linux SYN by hand: MSS 1460, end-of-list where sackOK was, MSS 9000 where the timestamp was.
        var packet = Fixtures.linuxSYN
        packet.replaceSubrange(44..<56, with: [0, 0, 2, 4, 0x23, 0x28, 1, 1, 1, 1, 1, 1])
        Oracle.setTCPChecksum(&packet, Oracle.tcpChecksum(packet))
        #expect(Oracle.receiverMSS(packet) == [1460])
        let (outcome, after) = rewritten(packet, ceiling: 1360)
        #expect(outcome == .clamped(from: 1460, to: 1360, count: 1))
        #expect(Array(after[44...]) == Array(packet[44...]), "the bytes after end-of-list")
        #expect(Oracle.tcpChecksumValid(after))
    }

    @Test func summaryCountsEveryMSS() {
        Fixtures.twoMSSSYN[40...].withUnsafeBytes { area in
            let summary = TCPOptionSummary(scanning: area)
            #expect(summary.mssCount == 2)
            #expect(summary.highestMSS == 1460)
            #expect(summary.failure == nil)
        }
    }

    /// On any bytes at all the walk ends, offsets strictly increase and stay inside the area.
    /// (A walk that failed to advance would loop forever and never return here.)
    @Test func finiteProgressOnRandomBytes() {
        var random = RandomSYN(seed: 0x5eed_0001)
        for _ in 0..<20_000 {
            let area = random.bytes(random.int(0...40))
            area.withUnsafeBytes { bytes in
                var last = -1
                var steps = 0
                _ = TCPOptionWalk(bytes).forEach(includingNOP: true) { option in
                    #expect(option.offset > last)
                    #expect(option.offset + option.length <= bytes.count)
                    last = option.offset
                    steps += 1
                    return true
                }
                #expect(steps <= 40)
            }
        }
    }
}
