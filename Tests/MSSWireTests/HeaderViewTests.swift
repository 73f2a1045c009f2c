import Testing

@testable import MSSWire
import WireFixtures

@Suite("IPv4 header view")
struct IPv4HeaderTests {
    @Test func deconstruct() throws {
        try Fixtures.ipv4OptionsSYN.withUnsafeBytes { bytes in
            let ip = try IPv4Header(validating: bytes)
            #expect(ip.version == 4)
            #expect(ip.headerLength == 24)
            #expect(ip.tos == 0)
            #expect(ip.totalLength == Fixtures.ipv4OptionsSYN.count)
            #expect(ip.identification == 0x1c46)
            #expect(ip.dontFragment)
            #expect(!ip.moreFragments)
            #expect(ip.fragmentOffset == 0)
            #expect(ip.ttl == 64)
            #expect(ip.protocolNumber == 6)
            #expect(ip.headerChecksum == 0x231b)
            #expect(ip.source == 0xc633_640a)  // 198.51.100.10
            #expect(ip.destination == 0xcb00_7114)  // 203.0.113.20
            #expect(Array(ip.options) == [0x94, 0x04, 0x00, 0x00])
            #expect(ip.headerChecksumValid)
        }
    }

    @Test func construct() {
        var buffer = [UInt8](repeating: 0xa5, count: 24)
        buffer.withUnsafeMutableBytes { bytes in
            let ip = MutableIPv4Header(unchecked: bytes)
            ip.setVersionAndHeaderLength(headerLength: 24)
            ip.setTOS(0)
            ip.setTotalLength(Fixtures.ipv4OptionsSYN.count)
            ip.setIdentification(0x1c46)
            ip.setFragment(dontFragment: true, moreFragments: false, offset: 0)
            ip.setTTL(64)
            ip.setProtocolNumber(6)
            ip.setSource(0xc633_640a)
            ip.setDestination(0xcb00_7114)
            for (index, byte) in [UInt8]([0x94, 0x04, 0x00, 0x00]).enumerated() { bytes[20 + index] = byte }
            ip.fillHeaderChecksum()
        }
        #expect(buffer == Array(Fixtures.ipv4OptionsSYN[0..<24]))
    }

    @Test func fragmentFields() {
        var buffer = Array(Fixtures.linuxSYN)
        buffer.withUnsafeMutableBytes { bytes in
            let ip = MutableIPv4Header(unchecked: bytes)
            ip.setFragment(dontFragment: false, moreFragments: true, offset: 1480)
            #expect(ip.moreFragments)
            #expect(!ip.dontFragment)
            #expect(ip.fragmentOffset == 1480)
        }
    }

    @Test func truncated() {
        for length in 0..<20 {
            Fixtures.linuxSYN[0..<length].withUnsafeBytes { bytes in
                #expect(IPv4Header.validate(bytes) == .truncated(layer: .ipv4, required: 20, actual: length))
            }
        }
    }

    @Test(arguments: [
        (0x44 as UInt8, MalformedReason.badIHL),  // IHL 4 < 5
        (0x4f, .badIHL),  // IHL 15 = 60 bytes, beyond the 40 bytes present
        (0x55, .badIPVersion),
    ])
    func impossibleHeaderLengths(firstByte: UInt8, reason: MalformedReason) {
        var packet = Array(Fixtures.linuxSYN[0..<40])  // 40 bytes: IHL 15 (60 bytes) runs past the end
        packet[0] = firstByte
        packet.withUnsafeBytes { bytes in
            #expect(IPv4Header.validate(bytes)?.reason == reason)
        }
    }

    @Test(arguments: [0, 19, 61, 0xffff])
    func impossibleTotalLength(total: Int) {
        var packet = Fixtures.linuxSYN
        packet[2] = UInt8(total >> 8)
        packet[3] = UInt8(total & 0xff)
        packet.withUnsafeBytes { bytes in
            #expect(IPv4Header.validate(bytes) == .invalid(layer: .ipv4, reason: .badTotalLength))
        }
    }

    @Test func trailingPaddingIsAllowed() {
        let padded = Fixtures.linuxSYN + [0, 0, 0, 0, 0, 0]
        padded.withUnsafeBytes { bytes in #expect(IPv4Header.validate(bytes) == nil) }
    }
}

@Suite("IPv6 header view and extension walk")
struct IPv6HeaderTests {
    @Test func deconstruct() throws {
        try Fixtures.linuxSYNv6.withUnsafeBytes { bytes in
            let ip = try IPv6Header(validating: bytes)
            #expect(ip.version == 6)
            #expect(ip.trafficClass == 0)
            #expect(ip.flowLabel == 0)
            #expect(ip.payloadLength == Fixtures.linuxSYNv6.count - 40)
            #expect(ip.nextHeader == 6)
            #expect(ip.hopLimit == 64)
            #expect(Array(ip.source) == [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10])
            #expect(Array(ip.destination) == [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20])
            #expect(ip.addressPair.count == 32)
        }
    }

    @Test func construct() {
        var buffer = [UInt8](repeating: 0xa5, count: 40)
        buffer.withUnsafeMutableBytes { bytes in
            let ip = MutableIPv6Header(unchecked: bytes)
            ip.setVersionClassFlow()
            ip.setPayloadLength(Fixtures.linuxSYNv6.count - 40)
            ip.setNextHeader(6)
            ip.setHopLimit(64)
            ip.setSource(Fixtures.linuxSYNv6[8..<24])
            ip.setDestination(Fixtures.linuxSYNv6[24..<40])
        }
        #expect(buffer == Array(Fixtures.linuxSYNv6[0..<40]))
    }

    @Test func extensionChain() {
        Fixtures.extensionHeadersSYNv6.withUnsafeBytes { bytes in
            let upper = IPv6ExtensionWalk.upperLayer(bytes, end: bytes.count)
            #expect(
                upper == .success(IPv6UpperLayer(protocolNumber: 6, offset: 64, isLaterFragment: false, isFirstFragment: false)))
        }
    }

    @Test func truncated() {
        for length in 0..<40 {
            Fixtures.linuxSYNv6[0..<length].withUnsafeBytes { bytes in
                #expect(IPv6Header.validate(bytes) == .truncated(layer: .ipv6, required: 40, actual: length))
            }
        }
    }

    @Test(arguments: [0, 1000])
    func impossiblePayloadLength(length: Int) {
        var packet = Fixtures.linuxSYNv6
        packet[4] = UInt8(length >> 8)
        packet[5] = UInt8(length & 0xff)
        packet.withUnsafeBytes { bytes in
            #expect(IPv6Header.validate(bytes) == .invalid(layer: .ipv6, reason: .badPayloadLength))
        }
    }

    @Test func extensionHeaderRunningPastTheEnd() {
        var packet = Fixtures.extensionHeadersSYNv6
        packet[41] = 200  // hop-by-hop claims (200 + 1) * 8 bytes
        packet.withUnsafeBytes { bytes in
            guard case .failure(let error) = IPv6ExtensionWalk.upperLayer(bytes, end: bytes.count) else {
                Issue.record("walk accepted an extension header longer than the packet")
                return
            }
            #expect(error == .truncatedExtensionHeader)
        }
    }
}

@Suite("TCP header view")
struct TCPHeaderTests {
    @Test func deconstruct() throws {
        try Fixtures.linuxSYNACK[20...].withUnsafeBytes { bytes in
            let tcp = try TCPHeader(validating: bytes)
            #expect(tcp.sourcePort == 80)
            #expect(tcp.destinationPort == 43210)
            #expect(tcp.sequenceNumber == 0x0bad_cafe)
            #expect(tcp.acknowledgmentNumber == 0x6a1b_2c3e)
            #expect(tcp.headerLength == 40)
            #expect(tcp.flags == [.syn, .ack])
            #expect(tcp.window == 65160)
            #expect(tcp.checksum == Oracle.storedTCPChecksum(Fixtures.linuxSYNACK))
            #expect(tcp.urgentPointer == 0)
            #expect(tcp.options.count == 20)
            #expect(tcp.payloadLength == 0)
        }
    }

    @Test func construct() {
        let expected = Array(Fixtures.linuxSYN[20..<40])
        var buffer = [UInt8](repeating: 0xa5, count: 20)
        buffer.withUnsafeMutableBytes { bytes in
            let tcp = MutableTCPHeader(unchecked: bytes)
            tcp.setSourcePort(43210)
            tcp.setDestinationPort(80)
            tcp.setSequenceNumber(0x6a1b_2c3d)
            tcp.setAcknowledgmentNumber(0)
            bytes[12] = 0  // reserved bits start clear; setHeaderLength keeps them
            tcp.setHeaderLength(40)
            tcp.setFlags(.syn)
            tcp.setWindow(64240)
            tcp.setChecksum(Oracle.storedTCPChecksum(Fixtures.linuxSYN))
            tcp.setUrgentPointer(0)
        }
        #expect(buffer == expected)
    }

    @Test func truncated() {
        for length in 0..<20 {
            Fixtures.linuxSYN[20..<20 + length].withUnsafeBytes { bytes in
                #expect(TCPHeader.validate(bytes) == .truncated(layer: .tcp, required: 20, actual: length))
            }
        }
    }

    @Test(arguments: [0, 4, 11, 15])
    func impossibleDataOffset(words: UInt8) {
        var segment = Array(Fixtures.linuxSYN[20...])  // 40 bytes: data offset 11 or 15 runs past the end
        segment[12] = words << 4
        segment.withUnsafeBytes { bytes in
            #expect(TCPHeader.validate(bytes) == .invalid(layer: .tcp, reason: .badDataOffset))
        }
    }
}
