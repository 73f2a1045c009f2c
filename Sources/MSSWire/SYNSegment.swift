/// A TCP SYN located and validated inside an IP packet: the offsets the rewrite needs, so nothing is parsed
/// twice. All offsets are from the start of the IP header.
public struct SYNSegment: Sendable, Hashable {
    public let family: IPFamily
    /// The IP packet length according to its header (IPv4 total length, or 40 + IPv6 payload length).
    public let ipLength: Int
    /// Where the TCP header starts (after IPv4 options or IPv6 extension headers).
    public let tcpOffset: Int
    /// TCP header length in bytes, options included.
    public let tcpHeaderLength: Int
    /// True for the first fragment of a fragmented datagram: the segment continues in other packets.
    public let isFirstFragment: Bool
    /// Number of well-formed MSS options the receiver reads.
    public let mssCount: Int
    /// The highest MSS value among them (0 when there is none).
    public let highestMSS: UInt16
    /// The lowest MSS value among them (0 when there is none).
    public let lowestMSS: UInt16
    /// A problem in the options (the packet is counted as malformed), if any. With MSS options read
    /// before it, the SYN is still rewritten: the receiver honours them.
    public let optionFailure: MalformedReason?
    /// Where the receiver stops reading the options (offset from the start of the option area).
    public let optionsEnd: Int

    /// TCP header plus payload present in this packet.
    @inlinable public var segmentLength: Int { ipLength - tcpOffset }
    /// Payload bytes after the TCP header.
    @inlinable public var payloadLength: Int { segmentLength - tcpHeaderLength }
    /// Offset of the 4-byte IPv4 or 16-byte IPv6 source address.
    @inlinable public var sourceAddressOffset: Int { family == .ipv4 ? IPv4Field.source : IPv6Field.source }
    /// True when the smallest MSS the receiver reads is below the family's default (536 for IPv4, 1220
    /// for IPv6): the SACK-panic class of SYN (CVE-2019-11477) or a broken middlebox. Counted, never raised.
    @inlinable public var hasTinyMSS: Bool {
        mssCount > 0 && lowestMSS < family.defaultMSS
    }
    /// Offset of the 4-byte IPv4 or 16-byte IPv6 destination address.
    @inlinable public var destinationAddressOffset: Int {
        family == .ipv4 ? IPv4Field.destination : IPv6Field.destination
    }

    @inlinable
    init(family: IPFamily, ipLength: Int, tcpOffset: Int, tcpHeaderLength: Int, isFirstFragment: Bool,
         mssCount: Int, highestMSS: UInt16, lowestMSS: UInt16, optionFailure: MalformedReason?, optionsEnd: Int)
    {
        self.optionFailure = optionFailure
        self.optionsEnd = optionsEnd
        self.family = family
        self.ipLength = ipLength
        self.tcpOffset = tcpOffset
        self.tcpHeaderLength = tcpHeaderLength
        self.isFirstFragment = isFirstFragment
        self.mssCount = mssCount
        self.highestMSS = highestMSS
        self.lowestMSS = lowestMSS
    }
}

/// The result of classifying a packet: either a SYN the policy must decide on, or a final outcome.
public enum PacketClassification: Sendable, Hashable {
    case syn(SYNSegment)
    case final(RewriteOutcome)
}

extension SYNSegment {
    /// Finds the TCP SYN in an IP packet, or says why there is none to rewrite.
    ///
    /// Guards, in order: IP header → fragment → protocol → TCP header → flags → options. A packet that
    /// fails a guard is reported and must be passed on byte-identical.
    /// - Parameter packet: the IP packet, starting at the IP header. Bytes after the length the IP header
    ///   gives (link padding) are ignored.
    @inlinable @inline(__always)
    public static func classify(_ packet: UnsafeRawBufferPointer) -> PacketClassification {
        guard !packet.isEmpty else { return .final(.malformed(.truncatedIPHeader)) }
        let family: IPFamily
        let ipLength: Int
        let tcpOffset: Int
        var firstFragment = false
        switch packet[0] >> 4 {
        case 4:
            if let reason = IPv4Header.check(packet) { return .final(.malformed(reason)) }
            let ip = IPv4Header(unchecked: packet)
            // A non-first fragment carries no TCP header (RFC 791).
            guard ip.fragmentOffset == 0 else { return .final(.fragment) }
            guard ip.protocolNumber == IPv6NextHeader.tcp else { return .final(.notTCP) }
            family = .ipv4
            ipLength = ip.totalLength
            tcpOffset = ip.headerLength
            firstFragment = ip.moreFragments
        case 6:
            if let reason = IPv6Header.check(packet) { return .final(.malformed(reason)) }
            ipLength = IPv6Field.fixedLength + IPv6Header(unchecked: packet).payloadLength
            switch IPv6ExtensionWalk.upperLayer(packet, end: ipLength) {
            case .failure(let reason):
                return .final(.malformed(reason))
            case .success(let upper):
                guard !upper.isLaterFragment else { return .final(.fragment) }
                guard upper.protocolNumber == IPv6NextHeader.tcp else { return .final(.notTCP) }
                family = .ipv6
                tcpOffset = upper.offset
                firstFragment = upper.isFirstFragment
            }
        default:
            return .final(.malformed(.badIPVersion))
        }
        let segment = packet.unchecked(tcpOffset, ipLength)  // both within the validated IP length
        if let reason = TCPHeader.check(segment) {
            // A tiny first fragment may end inside the TCP header; that is a fragment, not a malformed packet.
            return .final(firstFragment ? .fragment : .malformed(reason))
        }
        let tcp = TCPHeader(unchecked: segment)
        let flags = tcp.flags
        guard flags.contains(.syn), !flags.contains(.rst) else { return .final(.notSYN) }
        let options = TCPOptionSummary(scanning: tcp.options)
        // Malformed options with no MSS the receiver reads before them: nothing to clamp, and nothing is
        // inserted into options that cannot be walked. With MSS options before the malformation, the
        // receiver honours those: they are clamped, and the packet still counts as malformed.
        if let reason = options.failure, options.mssCount == 0 { return .final(.malformed(reason)) }
        return .syn(
            SYNSegment(
                family: family, ipLength: ipLength, tcpOffset: tcpOffset, tcpHeaderLength: tcp.headerLength,
                isFirstFragment: firstFragment, mssCount: options.mssCount, highestMSS: options.highestMSS,
                lowestMSS: options.lowestMSS,
                optionFailure: options.failure, optionsEnd: options.end))
    }
}
