/// Byte offsets of the TCP header fields (RFC 9293 section 3.1).
@usableFromInline
enum TCPField {
    @usableFromInline static let sourcePort = 0
    @usableFromInline static let destinationPort = 2
    @usableFromInline static let sequenceNumber = 4
    @usableFromInline static let acknowledgmentNumber = 8
    /// Data offset (4 bits), reserved (4 bits), then the flags byte.
    @usableFromInline static let dataOffsetFlags = 12
    @usableFromInline static let flags = 13
    @usableFromInline static let window = 14
    @usableFromInline static let checksum = 16
    @usableFromInline static let urgentPointer = 18
    @usableFromInline static let fixedLength = 20
    /// Data offset is 4 bits of 32-bit words: at most 15 * 4 bytes.
    @usableFromInline static let maximumLength = 60
}

/// TCP header flags (the low byte of the data-offset word).
public struct TCPFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)
}

/// Read accessors shared by the read-only and the mutable TCP view.
public protocol TCPHeaderFields {
    /// The segment bytes, from the TCP header to the end of the segment.
    var rawBytes: UnsafeRawBufferPointer { get }
}

extension TCPHeaderFields {
    @inlinable public var sourcePort: UInt16 { rawBytes.u16(TCPField.sourcePort) }
    @inlinable public var destinationPort: UInt16 { rawBytes.u16(TCPField.destinationPort) }
    @inlinable public var sequenceNumber: UInt32 { rawBytes.u32(TCPField.sequenceNumber) }
    @inlinable public var acknowledgmentNumber: UInt32 { rawBytes.u32(TCPField.acknowledgmentNumber) }
    /// Header length in bytes (data offset * 4), options included.
    @inlinable public var headerLength: Int { Int(rawBytes.u8(TCPField.dataOffsetFlags) >> 4) * 4 }
    @inlinable public var flags: TCPFlags { TCPFlags(rawValue: rawBytes.u8(TCPField.flags)) }
    @inlinable public var window: UInt16 { rawBytes.u16(TCPField.window) }
    @inlinable public var checksum: UInt16 { rawBytes.u16(TCPField.checksum) }
    @inlinable public var urgentPointer: UInt16 { rawBytes.u16(TCPField.urgentPointer) }
    /// The option bytes between the fixed header and the data offset.
    @inlinable public var options: UnsafeRawBufferPointer {
        rawBytes.unchecked(TCPField.fixedLength, headerLength)  // data offset validated with the view
    }
    /// Bytes after the header.
    @inlinable public var payloadLength: Int { rawBytes.count - headerLength }
}

/// A read-only view of a TCP segment (header and payload).
public struct TCPHeader: TCPHeaderFields {
    public let rawBytes: UnsafeRawBufferPointer

    @inlinable public init(unchecked bytes: UnsafeRawBufferPointer) {
        rawBytes = bytes
    }

    public init(validating bytes: UnsafeRawBufferPointer) throws(WireError) {
        if let error = TCPHeader.validate(bytes) { throw error }
        rawBytes = bytes
    }

    /// The first problem with `bytes` as a TCP segment, or nil: 20 bytes present, data offset at least 5 and
    /// within the segment. Options are checked by `TCPOptionWalk`.
    public static func validate(_ bytes: UnsafeRawBufferPointer) -> WireError? {
        switch check(bytes) {
        case nil: nil
        case .truncatedTCPHeader?: .truncated(layer: .tcp, required: TCPField.fixedLength, actual: bytes.count)
        case let reason?: .invalid(layer: .tcp, reason: reason)
        }
    }

    /// `validate` for the hot path: the counter key only, nothing to build.
    @inlinable @inline(__always)
    public static func check(_ bytes: UnsafeRawBufferPointer) -> MalformedReason? {
        guard bytes.count >= TCPField.fixedLength else { return .truncatedTCPHeader }
        let length = TCPHeader(unchecked: bytes).headerLength
        guard length >= TCPField.fixedLength, length <= bytes.count else { return .badDataOffset }
        return nil
    }
}

/// A mutable view of a TCP segment.
public struct MutableTCPHeader: TCPHeaderFields {
    public let mutableBytes: UnsafeMutableRawBufferPointer
    @inlinable public var rawBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(mutableBytes) }

    @inlinable public init(unchecked bytes: UnsafeMutableRawBufferPointer) {
        mutableBytes = bytes
    }

    public init(validating bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        if let error = TCPHeader.validate(UnsafeRawBufferPointer(bytes)) { throw error }
        mutableBytes = bytes
    }

    @inlinable public func setSourcePort(_ value: UInt16) { mutableBytes.setU16(TCPField.sourcePort, value) }
    @inlinable public func setDestinationPort(_ value: UInt16) {
        mutableBytes.setU16(TCPField.destinationPort, value)
    }
    @inlinable public func setSequenceNumber(_ value: UInt32) {
        mutableBytes.setU32(TCPField.sequenceNumber, value)
    }
    @inlinable public func setAcknowledgmentNumber(_ value: UInt32) {
        mutableBytes.setU32(TCPField.acknowledgmentNumber, value)
    }
    /// Sets the data offset from a header length in bytes (a multiple of 4, 20...60); keeps the reserved bits.
    @inlinable public func setHeaderLength(_ value: Int) {
        let reserved = mutableBytes.u8(TCPField.dataOffsetFlags) & 0x0f
        mutableBytes.setU8(TCPField.dataOffsetFlags, UInt8(value / 4) << 4 | reserved)
    }
    @inlinable public func setFlags(_ value: TCPFlags) { mutableBytes.setU8(TCPField.flags, value.rawValue) }
    @inlinable public func setWindow(_ value: UInt16) { mutableBytes.setU16(TCPField.window, value) }
    @inlinable public func setChecksum(_ value: UInt16) { mutableBytes.setU16(TCPField.checksum, value) }
    @inlinable public func setUrgentPointer(_ value: UInt16) { mutableBytes.setU16(TCPField.urgentPointer, value) }
}
