import MSSWire

/// Counters of one peer, keyed by `PeerCounter`; in JSON one key per case name.
public struct PeerCounters: Sendable, Hashable, Codable {
    public var counts = PeerCounterSlots()

    public init() {}

    public subscript(counter: PeerCounter) -> UInt64 {
        get { counts[counter] }
        set { counts[counter] = newValue }
    }

    /// SYNs attributed to the peer (the worker's mark that a peer was touched in a batch).
    public var seen: UInt64 {
        get { counts[.seen] }
        set { counts[.seen] = newValue }
    }

    public mutating func add(_ other: PeerCounters) { counts.add(other.counts) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: TableCodingKey.self)
        for counter in PeerCounter.allCases {
            counts[counter] = try container.decodeIfPresent(UInt64.self, forKey: TableCodingKey(counter)) ?? 0
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TableCodingKey.self)
        for counter in PeerCounter.allCases { try container.encode(counts[counter], forKey: TableCodingKey(counter)) }
    }
}

/// Totals published by the workers and the daemon, summed on read. The counters of `Counter` are keyed
/// by their case names in JSON, beside the maps and the daemon's own state below.
public struct Statistics: Sendable, Hashable, Codable {
    /// The table's counters.
    public var counters = CounterTableSlots()
    public var outcomes: [String: UInt64] = Dictionary(uniqueKeysWithValues: OutcomeKind.allCases.map { ($0.description, 0) })
    public var malformed: [String: UInt64] = [:]
    public var missingMSS: [String: UInt64] = [:]
    /// Per peer name; "(default)" for packets no peer claimed.
    public var peers: [String: PeerCounters] = [:]
    /// SYNs the kernel safety net lowered: they reached it above their ceiling, so user space did not
    /// take them (no daemon, a restart, a full queue with fail-open). nil: no net installed.
    public var safetyNetClamped: UInt64?
    /// The share of SYNs the queue takes now: 1, or 2^-shift while shedding. nil: no shedding here (no
    /// rules installed by the daemon, no safety net, or `[queue] rate = 0`).
    public var queuedShare: Double?
    /// Times shedding started.
    public var sheddingEpisodes: UInt64 = 0
    /// The peers of `mss = "auto"` templates: their ceilings and how they were learned.
    public var autoCeilings: [AutoCeilingReport] = []
    /// The strongSwan source (nil: no strongswan template).
    public var strongswan: StrongSwanReport?
    /// The black-hole watch (nil: not running).
    public var blackHoles: BlackHoleReport?

    public init() {}

    public subscript(counter: Counter) -> UInt64 {
        get { counters[counter] }
        set { counters[counter] = newValue }
    }

    /// Sums two workers' totals (the daemon's own state, set once by the daemon, is not summed).
    public mutating func merge(_ other: Statistics) {
        counters.merge(other.counters)
        for (key, value) in other.outcomes { outcomes[key, default: 0] &+= value }
        for (key, value) in other.malformed { malformed[key, default: 0] &+= value }
        for (key, value) in other.missingMSS { missingMSS[key, default: 0] &+= value }
        for (peer, counts) in other.peers { peers[peer, default: PeerCounters()].add(counts) }
    }

    private enum Field: String, CaseIterable {
        case outcomes, malformed, missingMSS, peers, safetyNetClamped, queuedShare, sheddingEpisodes, autoCeilings, strongswan, blackHoles
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: TableCodingKey.self)
        for counter in Counter.allCases {
            counters[counter] = try container.decodeIfPresent(UInt64.self, forKey: TableCodingKey(counter)) ?? 0
        }
        func key(_ field: Field) -> TableCodingKey { TableCodingKey(stringValue: field.rawValue) }
        outcomes = try container.decodeIfPresent([String: UInt64].self, forKey: key(.outcomes)) ?? outcomes
        malformed = try container.decodeIfPresent([String: UInt64].self, forKey: key(.malformed)) ?? [:]
        missingMSS = try container.decodeIfPresent([String: UInt64].self, forKey: key(.missingMSS)) ?? [:]
        peers = try container.decodeIfPresent([String: PeerCounters].self, forKey: key(.peers)) ?? [:]
        safetyNetClamped = try container.decodeIfPresent(UInt64.self, forKey: key(.safetyNetClamped))
        queuedShare = try container.decodeIfPresent(Double.self, forKey: key(.queuedShare))
        sheddingEpisodes = try container.decodeIfPresent(UInt64.self, forKey: key(.sheddingEpisodes)) ?? 0
        autoCeilings = try container.decodeIfPresent([AutoCeilingReport].self, forKey: key(.autoCeilings)) ?? []
        strongswan = try container.decodeIfPresent(StrongSwanReport.self, forKey: key(.strongswan))
        blackHoles = try container.decodeIfPresent(BlackHoleReport.self, forKey: key(.blackHoles))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TableCodingKey.self)
        for counter in Counter.allCases { try container.encode(counters[counter], forKey: TableCodingKey(counter)) }
        func key(_ field: Field) -> TableCodingKey { TableCodingKey(stringValue: field.rawValue) }
        try container.encode(outcomes, forKey: key(.outcomes))
        try container.encode(malformed, forKey: key(.malformed))
        try container.encode(missingMSS, forKey: key(.missingMSS))
        try container.encode(peers, forKey: key(.peers))
        try container.encodeIfPresent(safetyNetClamped, forKey: key(.safetyNetClamped))
        try container.encodeIfPresent(queuedShare, forKey: key(.queuedShare))
        try container.encode(sheddingEpisodes, forKey: key(.sheddingEpisodes))
        try container.encode(autoCeilings, forKey: key(.autoCeilings))
        try container.encodeIfPresent(strongswan, forKey: key(.strongswan))
        try container.encodeIfPresent(blackHoles, forKey: key(.blackHoles))
    }
}

/// A JSON key taken from a counter table: the case's name.
struct TableCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
    init(_ key: some CounterKey) { stringValue = String(describing: key) }
}
