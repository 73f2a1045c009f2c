import MSSWire

/// Counters a worker keeps for itself while it runs a batch: fixed-size, no heap, no locks.
struct LocalCounters {
    var packets: UInt64 = 0
    var outcomes = InlineArray<9, UInt64>(repeating: 0)
    var malformed = InlineArray<16, UInt64>(repeating: 0)
    var missingMSS = InlineArray<8, UInt64>(repeating: 0)
    /// Payloads cut by the copy range: accepted unmodified, never returned short.
    var truncated: UInt64 = 0
    /// Packets whose checksum the kernel had not finished (NFQA_SKB_CSUMNOTREADY, locally generated).
    var checksumNotReady: UInt64 = 0
    /// Netlink messages that could not be parsed.
    var netlinkMalformed: UInt64 = 0
    /// Error acknowledgements from the kernel (for example a verdict for an unknown id).
    var verdictErrors: UInt64 = 0
    /// Packets dropped because they were malformed and the policy says drop.
    var dropped: UInt64 = 0
    /// Malformed SYNs whose MSS options before the malformation were clamped (the receiver reads them).
    var malformedClamped: UInt64 = 0
    var batches: UInt64 = 0
    var largestBatch: UInt64 = 0

    /// Adds another worker's or batch's counts.
    mutating func accumulate(_ other: LocalCounters) {
        packets &+= other.packets
        for index in outcomes.indices { outcomes[index] &+= other.outcomes[index] }
        for index in malformed.indices { malformed[index] &+= other.malformed[index] }
        for index in missingMSS.indices { missingMSS[index] &+= other.missingMSS[index] }
        truncated &+= other.truncated
        checksumNotReady &+= other.checksumNotReady
        netlinkMalformed &+= other.netlinkMalformed
        verdictErrors &+= other.verdictErrors
        dropped &+= other.dropped
        malformedClamped &+= other.malformedClamped
        batches &+= other.batches
        largestBatch = max(largestBatch, other.largestBatch)
    }

    @inline(__always)
    mutating func record(_ outcome: RewriteOutcome) {
        outcomes[outcome.kind.rawValue] &+= 1
        switch outcome {
        case .malformed(let reason): malformed[Int(reason.rawValue)] &+= 1
        case .clampedMalformed(_, _, _, let reason):
            malformed[Int(reason.rawValue)] &+= 1
            malformedClamped &+= 1
        case .missingMSS(let reason): missingMSS[Int(reason.rawValue)] &+= 1
        default: break
        }
    }
}

/// Counters of one peer.
public struct PeerCounters: Sendable, Hashable, Codable {
    public var seen: UInt64 = 0
    public var clamped: UInt64 = 0
    public var alreadyLow: UInt64 = 0
    public var inserted: UInt64 = 0
    public var malformed: UInt64 = 0

    public init() {}

    @inline(__always)
    mutating func record(_ kind: OutcomeKind) {
        seen &+= 1
        switch kind {
        case .clamped: clamped &+= 1
        case .alreadyLow: alreadyLow &+= 1
        case .inserted: inserted &+= 1
        case .malformed: malformed &+= 1
        default: break
        }
    }

    mutating func add(_ other: PeerCounters) {
        seen &+= other.seen
        clamped &+= other.clamped
        alreadyLow &+= other.alreadyLow
        inserted &+= other.inserted
        malformed &+= other.malformed
    }
}

/// Totals published by the workers and summed on read. Keys are the stable snake_case names.
public struct Statistics: Sendable, Hashable, Codable {
    public var packets: UInt64 = 0
    public var outcomes: [String: UInt64] = Dictionary(uniqueKeysWithValues: OutcomeKind.allCases.map { ($0.description, 0) })
    public var malformed: [String: UInt64] = [:]
    public var missingMSS: [String: UInt64] = [:]
    public var truncated: UInt64 = 0
    public var checksumNotReady: UInt64 = 0
    public var netlinkMalformed: UInt64 = 0
    public var verdictErrors: UInt64 = 0
    public var dropped: UInt64 = 0
    /// Malformed SYNs whose MSS options before the malformation were clamped.
    public var malformedClamped: UInt64 = 0
    public var batches: UInt64 = 0
    public var largestBatch: UInt64 = 0
    /// Per peer name; "(default)" for packets no peer claimed.
    public var peers: [String: PeerCounters] = [:]
    /// Times a worker's loop did not turn for longer than a second (stopped, starved or stuck process),
    /// and how long in all: SYNs queued meanwhile waited.
    public var workerStalls: UInt64 = 0
    public var stallMilliseconds: UInt64 = 0
    /// Packets given their verdict while stopping, after the queue left the path.
    public var drained: UInt64 = 0
    /// SYNs the kernel safety net lowered: they reached it above their ceiling, so user space did not
    /// take them (no daemon, a restart, a full queue with fail-open). nil: no net installed.
    public var safetyNetClamped: UInt64?
    /// Times the rules were found changed by another tool and put back.
    public var rulesRestored: UInt64 = 0
    /// The share of SYNs the queue takes now: 1, or 2^-shift while shedding. nil: no shedding here (no
    /// rules installed by the daemon, no safety net, or `[queue] rate = 0`).
    public var queuedShare: Double?
    /// Times shedding started.
    public var sheddingEpisodes: UInt64 = 0
    /// The peers of `mss = "auto"` templates: their ceilings and how they were learned.
    public var autoCeilings: [AutoCeilingReport] = []

    public init() {}

    /// Adds a worker's batch counters.
    mutating func add(_ local: LocalCounters) {
        packets &+= local.packets
        for kind in OutcomeKind.allCases where local.outcomes[kind.rawValue] > 0 {
            outcomes[kind.description, default: 0] &+= local.outcomes[kind.rawValue]
        }
        for reason in MalformedReason.allCases where local.malformed[Int(reason.rawValue)] > 0 {
            malformed[reason.description, default: 0] &+= local.malformed[Int(reason.rawValue)]
        }
        for reason in MissingMSSReason.allCases where local.missingMSS[Int(reason.rawValue)] > 0 {
            missingMSS[reason.description, default: 0] &+= local.missingMSS[Int(reason.rawValue)]
        }
        truncated &+= local.truncated
        checksumNotReady &+= local.checksumNotReady
        netlinkMalformed &+= local.netlinkMalformed
        verdictErrors &+= local.verdictErrors
        dropped &+= local.dropped
        malformedClamped &+= local.malformedClamped
        batches &+= local.batches
        largestBatch = max(largestBatch, local.largestBatch)
    }

    /// Sums two workers' totals.
    public mutating func merge(_ other: Statistics) {
        packets &+= other.packets
        for (key, value) in other.outcomes { outcomes[key, default: 0] &+= value }
        for (key, value) in other.malformed { malformed[key, default: 0] &+= value }
        for (key, value) in other.missingMSS { missingMSS[key, default: 0] &+= value }
        truncated &+= other.truncated
        checksumNotReady &+= other.checksumNotReady
        netlinkMalformed &+= other.netlinkMalformed
        verdictErrors &+= other.verdictErrors
        dropped &+= other.dropped
        malformedClamped &+= other.malformedClamped
        batches &+= other.batches
        largestBatch = max(largestBatch, other.largestBatch)
        workerStalls &+= other.workerStalls
        stallMilliseconds &+= other.stallMilliseconds
        drained &+= other.drained
        for (peer, counters) in other.peers { peers[peer, default: PeerCounters()].add(counters) }
    }
}
