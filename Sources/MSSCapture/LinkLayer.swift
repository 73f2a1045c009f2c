import MSSWire

/// The link types a capture may use, and where the IP packet starts in each frame.
public enum LinkType: Sendable, Hashable, CustomStringConvertible {
    case ethernet
    /// Raw IP, the version nibble tells the family (DLT_RAW; LINKTYPE_RAW 101 maps to it).
    case rawIP
    case rawIPv4
    case rawIPv6
    /// Linux cooked capture v1, as `tcpdump -i any` writes it.
    case linuxCooked
    /// Linux cooked capture v2.
    case linuxCooked2

    /// Maps a libpcap DLT value; nil for link types this tool does not rewrite.
    public init?(dlt: Int32) {
        switch dlt {
        case 1: self = .ethernet
        case 12, 14, 101: self = .rawIP  // DLT_RAW is 12 on most systems, 14 on OpenBSD
        case 228: self = .rawIPv4
        case 229: self = .rawIPv6
        case 113: self = .linuxCooked
        case 276: self = .linuxCooked2
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .ethernet: "Ethernet"
        case .rawIP: "raw IP"
        case .rawIPv4: "raw IPv4"
        case .rawIPv6: "raw IPv6"
        case .linuxCooked: "Linux cooked v1"
        case .linuxCooked2: "Linux cooked v2"
        }
    }

    /// EtherType values for the IP families (IEEE registry).
    static let etherTypeIPv4: UInt16 = 0x0800
    static let etherTypeIPv6: UInt16 = 0x86dd
    /// 802.1Q, 802.1ad and the older QinQ value: a 4-byte tag before the real EtherType.
    static let vlanEtherTypes: Set<UInt16> = [0x8100, 0x88a8, 0x9100]

    /// The offset of the IP header in `frame`, or nil when the frame does not carry IPv4 or IPv6.
    public func ipOffset(in frame: UnsafeRawBufferPointer) -> Int? {
        func be16(_ offset: Int) -> UInt16? {
            guard offset + 2 <= frame.count else { return nil }
            return UInt16(frame[offset]) << 8 | UInt16(frame[offset + 1])
        }
        func isIP(_ etherType: UInt16?) -> Bool {
            etherType == Self.etherTypeIPv4 || etherType == Self.etherTypeIPv6
        }
        switch self {
        case .rawIP, .rawIPv4, .rawIPv6:
            return 0
        case .ethernet:
            // Destination and source MAC, then EtherType, after up to two VLAN tags.
            var typeOffset = 12
            while let type = be16(typeOffset), Self.vlanEtherTypes.contains(type), typeOffset < 20 {
                typeOffset += 4
            }
            return isIP(be16(typeOffset)) ? typeOffset + 2 : nil
        case .linuxCooked:
            // Packet type, ARPHRD type, address length, 8 address bytes, then the protocol (16 bytes).
            return isIP(be16(14)) ? 16 : nil
        case .linuxCooked2:
            // Protocol first, then reserved, interface index, ARPHRD, packet type, address (20 bytes).
            return isIP(be16(0)) ? 20 : nil
        }
    }
}
