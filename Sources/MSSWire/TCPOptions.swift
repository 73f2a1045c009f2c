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

/// Walks TCP options the way a receiver does (Linux `tcp_parse_options`): option by option until an
/// end-of-list, the end of the header, or the first option whose length cannot be walked (a kind byte
/// without its length byte, a length below 2, or one running past the header), where the receiver stops
/// reading. Unknown kinds are visited like known ones, since a rewrite must pass them through. An MSS
/// option of the wrong length is visited and reported, but the walk goes on past it, as the receiver
/// does (it ignores that option and reads the next). Every step advances by at least one byte, so the walk
/// ends on any input.
public struct TCPOptionWalk {
    public let area: UnsafeRawBufferPointer

    /// - Parameter area: the option bytes, from TCP header offset 20 to the data offset.
    @inlinable public init(_ area: UnsafeRawBufferPointer) {
        self.area = area
    }

    /// What a walk found wrong, and where the receiver stops reading.
    public struct Stop: Sendable, Hashable {
        /// The first problem: an option that cannot be walked, or an MSS option of the wrong length.
        public var failure: MalformedReason?
        /// Offset in the area where the walk ended: the area's end, an end-of-list, or the option that
        /// cannot be walked. Bytes from here on are never read by the receiver.
        public var end: Int

        @inlinable public init(failure: MalformedReason?, end: Int) {
            self.failure = failure
            self.end = end
        }
    }

    /// Visits every option the receiver reads, in order, until `body` returns false.
    /// - Parameters:
    ///   - includingNOP: also visit NOP (kind 1) padding bytes. The rewrite does not need them, and leaving
    ///     them out keeps its loop as tight as a hand-written one.
    ///   - body: called per option; return false to stop.
    /// - Returns: the first problem and where the walk ended.
    @inlinable @inline(__always)
    public func walk(includingNOP: Bool = false, _ body: (TCPOption) -> Bool) -> Stop {
        guard let base = area.baseAddress else { return Stop(failure: nil, end: 0) }
        let count = area.count
        var position = 0
        var problem: MalformedReason? = nil
        while position < count {
            let kind = base.load(fromByteOffset: position, as: UInt8.self)
            if kind == TCPOptionKind.endOfList { return Stop(failure: problem, end: position) }
            if kind == TCPOptionKind.noOperation {
                if includingNOP {
                    guard body(TCPOption(kind: kind, offset: position, length: 1, area: area)) else {
                        return Stop(failure: problem, end: position)
                    }
                }
                position &+= 1
                continue
            }
            // A kind byte without its length byte, a length below 2, or one running past the header: the
            // receiver stops reading here.
            guard position &+ 1 < count else { return Stop(failure: problem ?? .badOptionLength, end: position) }
            let length = Int(base.load(fromByteOffset: position &+ 1, as: UInt8.self))
            guard length >= 2, position &+ length <= count else {
                return Stop(failure: problem ?? .badOptionLength, end: position)
            }
            if kind == TCPOptionKind.maximumSegmentSize && length != TCPOptionKind.mssLength && problem == nil {
                problem = .badMSSOptionLength
            }
            guard body(TCPOption(kind: kind, offset: position, length: length, area: area)) else {
                return Stop(failure: problem, end: position)
            }
            position &+= length
        }
        return Stop(failure: problem, end: count)
    }

    /// Visits every option as `walk` does and returns the first problem only.
    @inlinable @inline(__always)
    public func forEach(includingNOP: Bool = false, _ body: (TCPOption) -> Bool) -> MalformedReason? {
        walk(includingNOP: includingNOP, body).failure
    }

    /// Visits the well-formed MSS options (kind 2, length 4) before `end`, of an area that `walk` has
    /// already walked to `end`, skipping its checks (the rewrite's second pass).
    /// - Parameter body: called with the offset of each MSS option's kind byte in the area.
    @inlinable @inline(__always)
    public func forEachValidatedMSS(end: Int, _ body: (Int) -> Void) {
        guard let base = area.baseAddress else { return }
        var position = 0
        while position < end {
            let kind = base.load(fromByteOffset: position, as: UInt8.self)
            if kind == TCPOptionKind.endOfList { return }
            if kind == TCPOptionKind.noOperation {
                position &+= 1
                continue
            }
            assert(position &+ 1 < end, "forEachValidatedMSS past the validated end")
            let length = Int(base.load(fromByteOffset: position &+ 1, as: UInt8.self))
            if kind == TCPOptionKind.maximumSegmentSize && length == TCPOptionKind.mssLength { body(position) }
            position &+= length
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
    /// Number of well-formed MSS options (kind 2, length 4) the receiver reads.
    public var mssCount = 0
    /// The largest MSS value among them (0 when there is none).
    public var highestMSS: UInt16 = 0
    /// The smallest MSS value among them (0 when there is none).
    public var lowestMSS: UInt16 = 0
    /// The first problem, if any.
    public var failure: MalformedReason?
    /// Where the receiver stops reading (offset in the area).
    public var end = 0

    /// Scans the option area once.
    @inlinable @inline(__always)
    public init(scanning area: UnsafeRawBufferPointer) {
        var count = 0
        var highest: UInt16 = 0
        var lowest: UInt16 = .max
        let stop = TCPOptionWalk(area).walk { option in
            if option.kind == TCPOptionKind.maximumSegmentSize && option.length == TCPOptionKind.mssLength {
                count &+= 1
                let value = area.u16(option.offset &+ 2)
                highest = max(highest, value)
                lowest = min(lowest, value)
            }
            return true
        }
        mssCount = count
        highestMSS = highest
        lowestMSS = count == 0 ? 0 : lowest
        failure = stop.failure
        end = stop.end
    }
}
