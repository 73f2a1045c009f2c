/// Byte offsets of the IPv6 fixed header fields (RFC 8200 section 3).
@usableFromInline
enum IPv6Field {
    @usableFromInline static let versionClassFlow = 0
    @usableFromInline static let payloadLength = 4
    @usableFromInline static let nextHeader = 6
    @usableFromInline static let hopLimit = 7
    @usableFromInline static let source = 8
    @usableFromInline static let destination = 24
    @usableFromInline static let fixedLength = 40
}

/// IPv6 next-header values this module walks or recognises (IANA "Assigned Internet Protocol Numbers").
public enum IPv6NextHeader {
    public static let hopByHop: UInt8 = 0
    public static let tcp: UInt8 = 6
    public static let routing: UInt8 = 43
    public static let fragment: UInt8 = 44
    public static let authentication: UInt8 = 51
    public static let noNextHeader: UInt8 = 59
    public static let destinationOptions: UInt8 = 60
}

/// Read accessors shared by the read-only and the mutable IPv6 view.
public protocol IPv6HeaderFields {
    /// The packet bytes, starting at the IPv6 header.
    var rawBytes: UnsafeRawBufferPointer { get }
}

extension IPv6HeaderFields {
    @inlinable public var version: UInt8 { rawBytes.u8(IPv6Field.versionClassFlow) >> 4 }
    @inlinable public var trafficClass: UInt8 {
        UInt8(truncatingIfNeeded: rawBytes.u32(IPv6Field.versionClassFlow) >> 20)
    }
    @inlinable public var flowLabel: UInt32 { rawBytes.u32(IPv6Field.versionClassFlow) & 0x000f_ffff }
    /// Bytes after the fixed 40-byte header, extension headers included.
    @inlinable public var payloadLength: Int { Int(rawBytes.u16(IPv6Field.payloadLength)) }
    @inlinable public var nextHeader: UInt8 { rawBytes.u8(IPv6Field.nextHeader) }
    @inlinable public var hopLimit: UInt8 { rawBytes.u8(IPv6Field.hopLimit) }
    /// The 16 source address bytes.
    @inlinable public var source: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: rawBytes[IPv6Field.source..<IPv6Field.source + 16])
    }
    /// The 16 destination address bytes.
    @inlinable public var destination: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: rawBytes[IPv6Field.destination..<IPv6Field.destination + 16])
    }
    /// Source and destination, 32 bytes, as the pseudo-header wants them.
    @inlinable public var addressPair: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: rawBytes[IPv6Field.source..<IPv6Field.destination + 16])
    }
}

/// A read-only view of an IPv6 fixed header over packet bytes.
public struct IPv6Header: IPv6HeaderFields {
    public let rawBytes: UnsafeRawBufferPointer

    @inlinable public init(unchecked bytes: UnsafeRawBufferPointer) {
        rawBytes = bytes
    }

    public init(validating bytes: UnsafeRawBufferPointer) throws(WireError) {
        if let error = IPv6Header.validate(bytes) { throw error }
        rawBytes = bytes
    }

    /// The first problem with `bytes` as an IPv6 packet, or nil: fixed header present, version 6, payload
    /// length non-zero and within the bytes present (bytes after it, such as link padding, are allowed).
    public static func validate(_ bytes: UnsafeRawBufferPointer) -> WireError? {
        switch check(bytes) {
        case nil: nil
        case .truncatedIPHeader?: .truncated(layer: .ipv6, required: IPv6Field.fixedLength, actual: bytes.count)
        case let reason?: .invalid(layer: .ipv6, reason: reason)
        }
    }

    /// `validate` for the hot path: the counter key only, nothing to build.
    @inlinable @inline(__always)
    public static func check(_ bytes: UnsafeRawBufferPointer) -> MalformedReason? {
        guard bytes.count >= IPv6Field.fixedLength else { return .truncatedIPHeader }
        let view = IPv6Header(unchecked: bytes)
        guard view.version == 6 else { return .badIPVersion }
        let payload = view.payloadLength
        guard payload > 0, IPv6Field.fixedLength &+ payload <= bytes.count else { return .badPayloadLength }
        return nil
    }
}

/// A mutable view of an IPv6 fixed header.
public struct MutableIPv6Header: IPv6HeaderFields {
    public let mutableBytes: UnsafeMutableRawBufferPointer
    @inlinable public var rawBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(mutableBytes) }

    @inlinable public init(unchecked bytes: UnsafeMutableRawBufferPointer) {
        mutableBytes = bytes
    }

    public init(validating bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        if let error = IPv6Header.validate(UnsafeRawBufferPointer(bytes)) { throw error }
        mutableBytes = bytes
    }

    @inlinable public func setVersionClassFlow(trafficClass: UInt8 = 0, flowLabel: UInt32 = 0) {
        mutableBytes.setU32(IPv6Field.versionClassFlow, 6 << 28 | UInt32(trafficClass) << 20 | flowLabel & 0xfffff)
    }
    @inlinable public func setPayloadLength(_ value: Int) {
        mutableBytes.setU16(IPv6Field.payloadLength, UInt16(truncatingIfNeeded: value))
    }
    @inlinable public func setNextHeader(_ value: UInt8) { mutableBytes.setU8(IPv6Field.nextHeader, value) }
    @inlinable public func setHopLimit(_ value: UInt8) { mutableBytes.setU8(IPv6Field.hopLimit, value) }
    /// Copies 16 address bytes into the source field.
    @inlinable public func setSource(_ address: some Collection<UInt8>) {
        copyAddress(address, to: IPv6Field.source)
    }
    /// Copies 16 address bytes into the destination field.
    @inlinable public func setDestination(_ address: some Collection<UInt8>) {
        copyAddress(address, to: IPv6Field.destination)
    }
    @usableFromInline func copyAddress(_ address: some Collection<UInt8>, to offset: Int) {
        precondition(address.count == 16, "an IPv6 address has 16 bytes")
        for (index, byte) in address.enumerated() { mutableBytes[offset + index] = byte }
    }
}

/// The upper layer found after walking the IPv6 extension header chain.
public struct IPv6UpperLayer: Sendable, Hashable {
    /// The protocol number of the upper layer (6 for TCP), or 59 when there is none.
    public var protocolNumber: UInt8
    /// Offset of the upper-layer header from the start of the IPv6 header.
    public var offset: Int
    /// True when a fragment header with a non-zero offset was seen: the upper-layer header is not here.
    public var isLaterFragment: Bool
    /// True when a fragment header with offset zero and the M flag was seen: only the first part of the
    /// upper-layer segment is here.
    public var isFirstFragment: Bool

    @inlinable
    public init(protocolNumber: UInt8, offset: Int, isLaterFragment: Bool, isFirstFragment: Bool) {
        self.protocolNumber = protocolNumber
        self.offset = offset
        self.isLaterFragment = isLaterFragment
        self.isFirstFragment = isFirstFragment
    }
}

/// Walks IPv6 extension headers (RFC 8200 section 4): hop-by-hop, routing, destination options and fragment.
/// Every step advances by at least 8 bytes, so the walk ends on any input.
///
/// The authentication header (51) is deliberately not walked: its ICV covers the TCP header, so a packet
/// under AH must reach its receiver unmodified and is reported with protocol 51, like any non-TCP packet.
public enum IPv6ExtensionWalk {
    /// Follows the chain from the fixed header to the first header that is not a walkable extension.
    /// `end` is the end of the IPv6 packet (40 + payload length), already checked against the buffer.
    @inlinable @inline(__always)
    public static func upperLayer(_ packet: UnsafeRawBufferPointer, end: Int) -> Result<IPv6UpperLayer, MalformedReason> {
        var next = packet.u8(IPv6Field.nextHeader)
        var offset = IPv6Field.fixedLength
        var firstFragment = false
        while true {
            switch next {
            case IPv6NextHeader.hopByHop, IPv6NextHeader.routing, IPv6NextHeader.destinationOptions:
                // Hdr Ext Len counts 8-octet units beyond the first 8 octets.
                guard offset + 8 <= end else {
                    return .failure(.truncatedExtensionHeader)
                }
                let length = (Int(packet.u8(offset + 1)) + 1) * 8
                guard offset + length <= end else {
                    return .failure(.truncatedExtensionHeader)
                }
                next = packet.u8(offset)
                offset += length
            case IPv6NextHeader.fragment:
                // Fixed 8 bytes: next header, reserved, offset (13 bits) + flags, identification.
                guard offset + 8 <= end else {
                    return .failure(.truncatedExtensionHeader)
                }
                let offsetFlags = packet.u16(offset + 2)
                if offsetFlags & 0xfff8 != 0 {
                    return .success(
                        IPv6UpperLayer(
                            protocolNumber: packet.u8(offset), offset: offset + 8, isLaterFragment: true,
                            isFirstFragment: false))
                }
                if offsetFlags & 0x0001 != 0 { firstFragment = true }
                next = packet.u8(offset)
                offset += 8
            default:
                return .success(
                    IPv6UpperLayer(
                        protocolNumber: next, offset: offset, isLaterFragment: false, isFirstFragment: firstFragment))
            }
        }
    }
}
