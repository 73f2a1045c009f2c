// The IP family and the rules that hang on it: how many bytes of headers an MTU holds besides the MSS,
// and what a sender assumes without an MSS option. Every module that turns an MTU into an MSS (the
// overhead calculator, the path MTU probe, the auto ceilings) asks here, so they cannot disagree.

/// The IP version of a packet.
public enum IPFamily: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case ipv4 = 4
    case ipv6 = 6

    public var description: String { self == .ipv4 ? "ipv4" : "ipv6" }

    /// The fixed IP header: 20 bytes for IPv4 (RFC 791), 40 for IPv6 (RFC 8200).
    @inlinable public var ipHeaderBytes: Int { self == .ipv4 ? IPv4Field.fixedLength : IPv6Field.fixedLength }

    /// The fixed IP header and the TCP header without options: 20 + 20 for IPv4, 40 + 20 for IPv6 (RFC
    /// 9293). The MSS counts neither (RFC 879, RFC 9293 section 3.7.1).
    @inlinable public var fixedHeaderBytes: Int { ipHeaderBytes + TCPField.fixedLength }

    /// The MSS that fills a packet of `mtu` bytes: IPv4 MTU - 40, IPv6 MTU - 60 (RFC 8200 section 8.3).
    /// It may be below any valid MSS for a tiny MTU; the caller clamps.
    @inlinable public func mss(forMTU mtu: Int) -> Int { mtu - fixedHeaderBytes }

    /// The packet size every path carries: 576 for IPv4 (the datagram every host must accept, RFC 791
    /// section 3.1), 1280 for IPv6 (the minimum link MTU, RFC 8200 section 5).
    @inlinable public var guaranteedMTU: Int { self == .ipv4 ? 576 : 1280 }

    /// The MSS a sender must assume when a SYN carries no MSS option, what the guaranteed MTU carries:
    /// 536 for IPv4 (RFC 1122 section 4.2.2.6), 1220 for IPv6 (RFC 8200 sections 5 and 8.3).
    @inlinable public var defaultMSS: UInt16 { UInt16(truncatingIfNeeded: mss(forMTU: guaranteedMTU)) }
}
