/// TCP option kinds this module names (IANA "TCP Option Kind Numbers").
public enum TCPOptionKind {
    public static let endOfList: UInt8 = 0
    public static let noOperation: UInt8 = 1
    /// RFC 9293 section 3.2: kind 2, length 4, a 16-bit value, only in SYN segments.
    public static let maximumSegmentSize: UInt8 = 2
    public static let windowScale: UInt8 = 3
    public static let sackPermitted: UInt8 = 4
    public static let sack: UInt8 = 5
    public static let timestamp: UInt8 = 8
    public static let fastOpen: UInt8 = 34
    /// The length of a well-formed MSS option.
    public static let mssLength = 4
}

/// One option found by `TCPOptionWalk`.
public struct TCPOption {
    @inlinable init(kind: UInt8, offset: Int, length: Int, area: UnsafeRawBufferPointer) {
        self.kind = kind
        self.offset = offset
        self.length = length
        self.area = area
    }

    public let kind: UInt8
    /// Offset of the kind byte from the start of the option area (TCP header offset 20).
    public let offset: Int
    /// Bytes the option occupies, kind and length included (1 for NOP).
    public let length: Int
    @usableFromInline let area: UnsafeRawBufferPointer

    /// The option data after kind and length (empty for NOP).
    @inlinable public var data: UnsafeRawBufferPointer {
        length < 2 ? area.unchecked(offset, offset) : area.unchecked(offset &+ 2, offset &+ length)
    }
}

/// Walks TCP options. Unknown kinds are visited like known ones, since a rewrite must pass them through.
/// Every step advances by at least one byte (NOP) or two (any option with a length), so the walk ends on
/// any input. A malformed option stops the walk and is returned as its reason.
public struct TCPOptionWalk {
    public let area: UnsafeRawBufferPointer

    /// - Parameter area: the option bytes, from TCP header offset 20 to the data offset.
    @inlinable public init(_ area: UnsafeRawBufferPointer) {
        self.area = area
    }

    /// Visits every option in order until `body` returns false, the area ends, or an EOL is found
    /// (everything after EOL is padding, RFC 9293 section 3.1).
    /// - Parameters:
    ///   - includingNOP: also visit NOP (kind 1) padding bytes. The rewrite does not need them, and leaving
    ///     them out keeps its loop as tight as a hand-written one.
    ///   - body: called per option; return false to stop.
    /// - Returns: the reason the walk stopped early on a malformed option, or nil.
    @inlinable @inline(__always)
    public func forEach(includingNOP: Bool = false, _ body: (TCPOption) -> Bool) -> MalformedReason? {
        guard let base = area.baseAddress else { return nil }
        let count = area.count
        var position = 0
        while position < count {
            let kind = base.load(fromByteOffset: position, as: UInt8.self)
            if kind == TCPOptionKind.endOfList { return nil }
            if kind == TCPOptionKind.noOperation {
                if includingNOP {
                    guard body(TCPOption(kind: kind, offset: position, length: 1, area: area)) else { return nil }
                }
                position &+= 1
                continue
            }
            // A kind byte without its length byte, a length below 2, or one running past the header.
            guard position &+ 1 < count else { return .badOptionLength }
            let length = Int(base.load(fromByteOffset: position &+ 1, as: UInt8.self))
            guard length >= 2, position &+ length <= count else { return .badOptionLength }
            guard kind != TCPOptionKind.maximumSegmentSize || length == TCPOptionKind.mssLength else {
                return .badMSSOptionLength
            }
            guard body(TCPOption(kind: kind, offset: position, length: length, area: area)) else { return nil }
            position &+= length
        }
        return nil
    }

    /// Visits the MSS options of an area that `forEach` has already walked without a failure, skipping its
    /// checks (the rewrite's second pass, after `TCPOptionSummary` validated the same bytes).
    /// - Parameter body: called with the offset of each MSS option's kind byte in the area.
    @inlinable @inline(__always)
    public func forEachValidatedMSS(_ body: (Int) -> Void) {
        guard let base = area.baseAddress else { return }
        let count = area.count
        var position = 0
        while position < count {
            let kind = base.load(fromByteOffset: position, as: UInt8.self)
            if kind == TCPOptionKind.endOfList { return }
            if kind == TCPOptionKind.noOperation {
                position &+= 1
                continue
            }
            assert(position &+ 1 < count, "forEachValidatedMSS on an area that was not validated")
            if kind == TCPOptionKind.maximumSegmentSize { body(position) }
            position &+= Int(base.load(fromByteOffset: position &+ 1, as: UInt8.self))
        }
    }

    /// Every option, NOPs included, and the reason the walk stopped early, if any: for tools and tests.
    public func collect() -> (options: [TCPOption], failure: MalformedReason?) {
        var options: [TCPOption] = []
        let failure = forEach(includingNOP: true) { options.append($0); return true }
        return (options, failure)
    }
}

/// What one pass over the option area found: enough to decide a rewrite without walking again.
public struct TCPOptionSummary: Sendable, Hashable {
    /// Number of well-formed MSS options.
    public var mssCount = 0
    /// The largest MSS value among them (0 when there is none).
    public var highestMSS: UInt16 = 0
    /// The problem that stopped the walk, if any.
    public var failure: MalformedReason?

    /// Scans the option area once.
    @inlinable @inline(__always)
    public init(scanning area: UnsafeRawBufferPointer) {
        var count = 0
        var highest: UInt16 = 0
        failure = TCPOptionWalk(area).forEach { option in
            if option.kind == TCPOptionKind.maximumSegmentSize {
                count &+= 1
                highest = max(highest, area.u16(option.offset &+ 2))
            }
            return true
        }
        mssCount = count
        highestMSS = highest
    }
}
