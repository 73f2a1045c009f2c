/// What the rewrite did with one packet. The daemon, its counters and the offline tool all report these.
public enum RewriteOutcome: Sendable, Hashable, CustomStringConvertible {
    /// `count` MSS options were lowered; `from` is the highest original value among them.
    case clamped(from: UInt16, to: UInt16, count: Int)
    /// The SYN carried no MSS option and one with value `mss` was inserted.
    case inserted(mss: UInt16)
    /// Every MSS option was already at or below the ceiling; `mss` is the highest of them.
    case alreadyLow(mss: UInt16)
    /// The policy exempts this packet's peer from clamping.
    case exempt
    /// The SYN carried no MSS option and none was inserted, for the reason given.
    case missingMSS(MissingMSSReason)
    /// TCP, but SYN is not set (or RST is also set).
    case notSYN
    /// Not TCP (including packets under an IPsec AH header, which must not be modified).
    case notTCP
    /// A non-first fragment: the TCP header is not in this packet.
    case fragment
    /// Headers or options are inconsistent; the packet is left byte-identical.
    case malformed(MalformedReason)
    /// The options are malformed (counted as such), but the MSS options the receiver reads before the
    /// malformation were lowered; the bytes from the malformation on are untouched.
    case clampedMalformed(from: UInt16, to: UInt16, count: Int, reason: MalformedReason)

    /// True when the packet bytes were changed.
    @inlinable public var modifiedPacket: Bool {
        switch self {
        case .clamped, .inserted, .clampedMalformed: true
        default: false
        }
    }

    /// The counter bucket of this outcome.
    @inlinable public var kind: OutcomeKind {
        switch self {
        case .clamped: .clamped
        case .inserted: .inserted
        case .alreadyLow: .alreadyLow
        case .exempt: .exempt
        case .missingMSS: .missingMSS
        case .notSYN: .notSYN
        case .notTCP: .notTCP
        case .fragment: .fragment
        case .malformed, .clampedMalformed: .malformed
        }
    }

    public var description: String {
        switch self {
        case .clamped(let from, let to, let count): "clamped \(from)->\(to) (\(count) option\(count == 1 ? "" : "s"))"
        case .inserted(let mss): "inserted \(mss)"
        case .alreadyLow(let mss): "already low (\(mss))"
        case .exempt: "exempt"
        case .missingMSS(let reason): "no MSS option (\(reason))"
        case .notSYN: "not SYN"
        case .notTCP: "not TCP"
        case .fragment: "fragment"
        case .malformed(let reason): "malformed (\(reason))"
        case .clampedMalformed(let from, let to, let count, let reason):
            "malformed (\(reason)), \(count) MSS option\(count == 1 ? "" : "s") before it clamped \(from)->\(to)"
        }
    }
}

/// Counter buckets for outcomes. Raw values index counter arrays and are stable.
public enum OutcomeKind: Int, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case clamped = 0, inserted, alreadyLow, exempt, missingMSS, notSYN, notTCP, fragment, malformed

    /// The snake_case name used in summaries, JSON and metrics.
    public var description: String {
        switch self {
        case .clamped: "clamped"
        case .inserted: "inserted"
        case .alreadyLow: "already_low"
        case .exempt: "exempt"
        case .missingMSS: "missing_mss"
        case .notSYN: "not_syn"
        case .notTCP: "not_tcp"
        case .fragment: "fragment"
        case .malformed: "malformed"
        }
    }
}

/// Why a SYN without an MSS option got none inserted.
public enum MissingMSSReason: UInt8, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// Insertion is switched off.
    case insertionDisabled = 0
    /// The SYN carries data (TCP Fast Open): moving it could make the packet too large for the path.
    case hasPayload
    /// The TCP header is already 60 bytes: the 4-bit data offset cannot grow by one more word.
    case noRoom
    /// The packet is the first fragment of a larger datagram; its length cannot change.
    case firstFragment
    /// The caller's buffer has no room for four more bytes.
    case noCapacity

    public var description: String {
        switch self {
        case .insertionDisabled: "insertion disabled"
        case .hasPayload: "SYN carries data"
        case .noRoom: "no room in the TCP header"
        case .firstFragment: "first fragment"
        case .noCapacity: "buffer too small"
        }
    }
}
