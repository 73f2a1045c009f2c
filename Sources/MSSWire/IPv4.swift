/// Byte offsets of the IPv4 header fields (RFC 791 section 3.1).
@usableFromInline
enum IPv4Field {
    @usableFromInline static let versionIHL = 0
    @usableFromInline static let tos = 1
    @usableFromInline static let totalLength = 2
    @usableFromInline static let identification = 4
    @usableFromInline static let flagsFragmentOffset = 6
    @usableFromInline static let ttl = 8
    @usableFromInline static let protocolNumber = 9
    @usableFromInline static let checksum = 10
    @usableFromInline static let source = 12
    @usableFromInline static let destination = 16
    /// The fixed part of the header; options follow up to IHL * 4.
    @usableFromInline static let fixedLength = 20
}

/// Read accessors shared by the read-only and the mutable IPv4 view.
public protocol IPv4HeaderFields {
    /// The packet bytes, starting at the IPv4 header.
    var rawBytes: UnsafeRawBufferPointer { get }
}

extension IPv4HeaderFields {
    @inlinable public var version: UInt8 { rawBytes.u8(IPv4Field.versionIHL) >> 4 }
    /// Header length in bytes (IHL * 4), options included.
    @inlinable public var headerLength: Int { Int(rawBytes.u8(IPv4Field.versionIHL) & 0x0f) * 4 }
    @inlinable public var tos: UInt8 { rawBytes.u8(IPv4Field.tos) }
    @inlinable public var totalLength: Int { Int(rawBytes.u16(IPv4Field.totalLength)) }
    @inlinable public var identification: UInt16 { rawBytes.u16(IPv4Field.identification) }
    @inlinable public var dontFragment: Bool { rawBytes.u16(IPv4Field.flagsFragmentOffset) & 0x4000 != 0 }
    @inlinable public var moreFragments: Bool { rawBytes.u16(IPv4Field.flagsFragmentOffset) & 0x2000 != 0 }
    /// Fragment offset in bytes (the field counts 8-byte units).
    @inlinable public var fragmentOffset: Int { Int(rawBytes.u16(IPv4Field.flagsFragmentOffset) & 0x1fff) * 8 }
    @inlinable public var ttl: UInt8 { rawBytes.u8(IPv4Field.ttl) }
    @inlinable public var protocolNumber: UInt8 { rawBytes.u8(IPv4Field.protocolNumber) }
    @inlinable public var headerChecksum: UInt16 { rawBytes.u16(IPv4Field.checksum) }
    @inlinable public var source: UInt32 { rawBytes.u32(IPv4Field.source) }
    @inlinable public var destination: UInt32 { rawBytes.u32(IPv4Field.destination) }
    /// The IP options, between the fixed header and IHL * 4.
    @inlinable public var options: UnsafeRawBufferPointer {
        rawBytes.unchecked(IPv4Field.fixedLength, headerLength)  // IHL validated with the view
    }
    /// True when the header checksum over IHL * 4 bytes verifies.
    @inlinable public var headerChecksumValid: Bool {
        InternetChecksum.fold(InternetChecksum.add(UnsafeRawBufferPointer(rebasing: rawBytes[0..<headerLength])))
            == 0xffff
    }
}

/// A read-only view of an IPv4 header over packet bytes.
public struct IPv4Header: IPv4HeaderFields {
    public let rawBytes: UnsafeRawBufferPointer

    /// Wraps bytes that the caller has already validated with `IPv4Header.validate(_:)`.
    @inlinable public init(unchecked bytes: UnsafeRawBufferPointer) {
        rawBytes = bytes
    }

    /// Checks the version, IHL and total length once; afterwards no accessor can read out of bounds.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireError) {
        if let error = IPv4Header.validate(bytes) { throw error }
        rawBytes = bytes
    }

    /// The first problem with `bytes` as an IPv4 header, or nil. Bytes after the total length (link padding)
    /// are allowed.
    public static func validate(_ bytes: UnsafeRawBufferPointer) -> WireError? {
        switch check(bytes) {
        case nil: nil
        case .truncatedIPHeader?: .truncated(layer: .ipv4, required: IPv4Field.fixedLength, actual: bytes.count)
        case let reason?: .invalid(layer: .ipv4, reason: reason)
        }
    }

    /// `validate` for the hot path: the counter key only, nothing to build.
    @inlinable @inline(__always)
    public static func check(_ bytes: UnsafeRawBufferPointer) -> MalformedReason? {
        guard bytes.count >= IPv4Field.fixedLength else { return .truncatedIPHeader }
        let view = IPv4Header(unchecked: bytes)
        guard view.version == 4 else { return .badIPVersion }
        let ihl = view.headerLength
        guard ihl >= IPv4Field.fixedLength, ihl <= bytes.count else { return .badIHL }
        let total = view.totalLength
        guard total >= ihl, total <= bytes.count else { return .badTotalLength }
        return nil
    }
}

/// A mutable view of an IPv4 header: the getters of `IPv4Header` plus setters.
public struct MutableIPv4Header: IPv4HeaderFields {
    public let mutableBytes: UnsafeMutableRawBufferPointer
    @inlinable public var rawBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(mutableBytes) }

    @inlinable public init(unchecked bytes: UnsafeMutableRawBufferPointer) {
        mutableBytes = bytes
    }

    public init(validating bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        if let error = IPv4Header.validate(UnsafeRawBufferPointer(bytes)) { throw error }
        mutableBytes = bytes
    }

    @inlinable public func setVersionAndHeaderLength(version: UInt8 = 4, headerLength: Int) {
        mutableBytes.setU8(IPv4Field.versionIHL, version << 4 | UInt8(headerLength / 4) & 0x0f)
    }
    @inlinable public func setTOS(_ value: UInt8) { mutableBytes.setU8(IPv4Field.tos, value) }
    @inlinable public func setTotalLength(_ value: Int) {
        mutableBytes.setU16(IPv4Field.totalLength, UInt16(truncatingIfNeeded: value))
    }
    @inlinable public func setIdentification(_ value: UInt16) {
        mutableBytes.setU16(IPv4Field.identification, value)
    }
    /// Sets the flags and fragment offset word; `offset` is in bytes and must be a multiple of 8.
    @inlinable public func setFragment(dontFragment: Bool, moreFragments: Bool, offset: Int) {
        var word = UInt16(truncatingIfNeeded: offset / 8) & 0x1fff
        if dontFragment { word |= 0x4000 }
        if moreFragments { word |= 0x2000 }
        mutableBytes.setU16(IPv4Field.flagsFragmentOffset, word)
    }
    @inlinable public func setTTL(_ value: UInt8) { mutableBytes.setU8(IPv4Field.ttl, value) }
    @inlinable public func setProtocolNumber(_ value: UInt8) { mutableBytes.setU8(IPv4Field.protocolNumber, value) }
    @inlinable public func setHeaderChecksum(_ value: UInt16) { mutableBytes.setU16(IPv4Field.checksum, value) }
    @inlinable public func setSource(_ value: UInt32) { mutableBytes.setU32(IPv4Field.source, value) }
    @inlinable public func setDestination(_ value: UInt32) { mutableBytes.setU32(IPv4Field.destination, value) }

    /// Recomputes the header checksum over IHL * 4 bytes.
    @inlinable public func fillHeaderChecksum() {
        setHeaderChecksum(0)
        let sum = InternetChecksum.add(UnsafeRawBufferPointer(rebasing: rawBytes[0..<headerLength]))
        setHeaderChecksum(InternetChecksum.finish(sum))
    }
}
