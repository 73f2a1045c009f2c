import MSSPolicy
import VICITestSupport
import Testing

@testable import MSSVICI

/// Issue 22: the VICI wire format, byte for byte as strongSwan's vici README defines it, and what a
/// malformed message gets (an error naming the offset, never a crash or a partial tree).
@Suite("VICI messages")
struct VICIMessageTests {
    /// The README's encoding example: key1 = value1, section1 = { sub-section = { key2 = value2 }, list1 = [item1, item2] }.
    static let readmeExample: [UInt8] =
        [3, 4] + Array("key1".utf8) + [0, 6] + Array("value1".utf8)
        + [1, 8] + Array("section1".utf8)
        + [1, 11] + Array("sub-section".utf8)
        + [3, 4] + Array("key2".utf8) + [0, 6] + Array("value2".utf8)
        + [2]
        + [4, 5] + Array("list1".utf8)
        + [5, 0, 5] + Array("item1".utf8)
        + [5, 0, 5] + Array("item2".utf8)
        + [6]
        + [2]

    @Test func theReadmeExampleDecodesAndEncodesToTheSameBytes() throws {
        let message = try VICIMessage(decoding: Self.readmeExample[...])
        #expect(message.string("key1") == "value1")
        let section = try #require(message.section("section1"))
        #expect(section.section("sub-section")?.string("key2") == "value2")
        #expect(section.strings("list1") == ["item1", "item2"])
        #expect(try message.encoded() == Self.readmeExample)
    }

    @Test func malformedMessagesAreErrorsThatNameTheProblem() {
        let cases: [([UInt8], String)] = [
            (Array(Self.readmeExample.dropLast()), "ends inside a section"),
            ([2], "section end without a start"),
            ([3, 4] + Array("key1".utf8) + [0, 9, 0x61], "ends early"),
            ([5, 0, 1, 0x61], "unknown element type 5"),
            ([4, 1, 0x6c, 3, 1, 0x6b, 0, 0, 6], "inside list 'l'"),
            ([9], "unknown element type 9"),
            (Array(repeating: [1, 1, 0x73], count: 40).flatMap { $0 }, "deeper than"),
        ]
        for (bytes, expected) in cases {
            #expect(throws: VICIError.self) { try VICIMessage(decoding: bytes[...]) }
            do {
                _ = try VICIMessage(decoding: bytes[...])
            } catch {
                #expect(error.description.contains(expected), "\(bytes): \(error)")
            }
        }
    }

    @Test func packetsCarryTheirTypeNameAndLength() throws {
        let request = VICIPacket(.commandRequest, name: "list-sas", message: VICIMessage(["noblock": "yes"]))
        let bytes = try request.encoded()
        let length = try VICIPacket.length(header: Array(bytes.prefix(4)))
        #expect(length == bytes.count - 4)
        #expect(bytes[4] == 0 && bytes[5] == 8 && Array(bytes[6..<14]) == Array("list-sas".utf8))
        #expect(try VICIPacket(decoding: bytes[4...]) == request)
        // A confirmation has neither name nor message: one byte.
        #expect(try VICIPacket(.eventConfirm).encoded() == [0, 0, 0, 1, 5])
        // Lengths past VICI's 512 KiB are refused before anything is read.
        #expect(throws: VICIError.self) { try VICIPacket.length(header: [0, 8, 0, 1]) }
        #expect(throws: VICIError.self) { try VICIPacket.length(header: [0, 0, 0, 0]) }
        #expect(throws: VICIError.self) { try VICIPacket(decoding: [7, 9, 0x61][...]) }
        #expect(throws: VICIError.self) { try VICIPacket(decoding: [42][...]) }
    }

    @Test func childSAsAreReadFromAListing() throws {
        let message = VICIMessageFixtures.listSA(encryption: "AES_CBC", selectors: ["10.9.0.1/32", "10.9.0.8..10.9.0.12"])
        let bytes = try message.encoded()
        let decoded = try VICIMessage(decoding: bytes[...])
        let sections = StrongSwanSAs.ikeSections(decoded)
        #expect(sections.count == 1)
        let children = StrongSwanSAs.children(connection: sections[0].connection, ike: sections[0].ike)
        let sa = try #require(children.first)
        #expect(sa.connection == "rw" && sa.child == "net" && sa.childID == "3" && sa.ikeID == "1")
        #expect(sa.remoteHost == "192.0.2.2" && sa.proposal.udpEncapsulated && !sa.proposal.outerIPv6)
        #expect(sa.endpoint == "192.0.2.2:4500")
        #expect(sa.proposal.description == "ESP AES_CBC-256/HMAC_SHA2_256_128 in UDP, IPv4 outer")
        // The range 10.9.0.8..10.9.0.12 is exactly 10.9.0.8/30 + 10.9.0.12/32.
        #expect(sa.remotePrefixes.prefixes.map(\.description) == ["10.9.0.1/32", "10.9.0.8/30", "10.9.0.12/32"])
        // A CHILD_SA that is not installed (being deleted, or half made) is no peer.
        let deleting = VICIMessageFixtures.listSA(state: "DELETING")
        #expect(StrongSwanSAs.children(connection: "rw", ike: try #require(deleting.section("rw"))).isEmpty)
    }

    @Test func rangesBecomeTheExactPrefixesThatCoverThem() throws {
        #expect(IPPrefix.covering(range: "10.0.0.0..10.0.0.255")?.map(\.description) == ["10.0.0.0/24"])
        #expect(IPPrefix.covering(range: "10.0.0.1..10.0.0.6")?.map(\.description) == ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"])
        #expect(IPPrefix.covering(range: "0.0.0.0..255.255.255.255")?.map(\.description) == ["0.0.0.0/0"])
        #expect(IPPrefix.covering(range: "2001:db8::..2001:db8::ffff")?.map(\.description) == ["2001:db8::/112"])
        #expect(IPPrefix.covering(range: "10.0.0.9..10.0.0.1") == nil)
        #expect(IPPrefix.covering(range: "10.0.0.1..2001:db8::1") == nil)
    }
}
