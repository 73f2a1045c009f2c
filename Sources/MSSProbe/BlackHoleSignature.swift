import MSSWire

#if canImport(Glibc)
    import Glibc
#endif

/// What a black hole looks like from the gateway, in a sample of the large TCP segments it forwards
/// (docs/design.md, "Black holes in live traffic"): one full-size segment of a flow sent again and again,
/// each time after a longer wait. That is a sender's retransmission timer backing off (RFC 6298 section
/// 5.5) because no ACK covers the segment; the segment is large, so the likely cause is a path that drops
/// packets of that size silently (RFC 4821 section 1, RFC 8899 section 1.1).
///
/// What it does not take for a black hole:
/// - random loss: a sender repairs it with fast retransmits and SACK, a round trip after the loss, not with
///   a backed-off timer; for a segment to be sent four times with growing gaps, three copies in a row
///   must be lost (at 2% loss, 8 in a million segments, and only a sample of segments is seen at all);
/// - a flow that moves on: only copies of one sequence number count, and a flow's last 8 are followed;
/// - small segments: only packets above `minimumPacket` are considered (every path carries 1280 bytes).
///
/// What it cannot tell apart, and the reaction must (a DF sweep toward the address): a receiver that is
/// gone altogether (it answers nothing, small or large).
public struct BlackHoleSignature: Sendable {
    /// Evidence of one black hole: the flow and what was seen of its segment.
    public struct Evidence: Sendable, Hashable, CustomStringConvertible {
        public var family: IPFamily
        public var flow: SegmentSummary.Flow
        public var sequence: UInt32
        /// The smallest copy's IP packet length (a retransmission: one segment).
        public var packetLength: Int
        /// How many times the same segment was seen (the first copy seen and its retransmissions).
        public var sightings: Int
        /// Milliseconds between the sightings.
        public var gaps: [Int64]

        public var destination: String { Self.text(flow.destination) }

        public var description: String {
            "flow \(Self.text(flow.source)) port \(flow.sourcePort) -> \(destination) port \(flow.destinationPort): "
                + "a \(packetLength)-byte segment (seq \(sequence)) sent \(sightings) times, "
                + "\(gaps.map { "\($0)" }.joined(separator: ", ")) ms apart, never acknowledged"
        }

        /// inet_ntop's text of a 4- or 16-byte address.
        static func text(_ address: [UInt8]) -> String {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let family = address.count == 4 ? AF_INET : AF_INET6
            let done = address.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
            guard done != nil else { return "?" }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Packets of at most this many bytes are never black-hole evidence.
    public static let minimumPacket = 1280
    /// The copies of one segment that make a black hole: the first seen and three retransmissions.
    public static let sightings = 4
    /// Linux never retransmits on its timer sooner than 200 ms (TCP_RTO_MIN); copies closer than this are
    /// fast retransmits or duplicates.
    public static let minimumGap: Int64 = 150
    /// A retransmission timer backs off: each gap at least this fraction of the one before (a sample
    /// missed between two copies only makes a gap longer).
    public static let backoff = 0.9
    /// A flow not seen for this long is forgotten.
    public static let idle: Int64 = 60_000
    /// At most this many flows are followed; the least recently seen is forgotten first.
    public static let maximumFlows = 4096

    /// One segment of a flow: when each copy was seen, and the smallest copy (a retransmission is one
    /// segment; the first copy may have been a GSO aggregate of many).
    struct Copies {
        var sequence: UInt32
        var packetLength: Int
        var times: [Int64]
    }

    /// The segments of a flow seen lately (at most `segmentsPerFlow`, the oldest forgotten first).
    struct Track {
        var segments: [Copies] = []
        var lastSeen: Int64
        var reported = false
    }

    /// Sequence numbers followed per flow: a sample of the first window (the sampler's burst) and the
    /// retransmission that comes back to its first segment.
    public static let segmentsPerFlow = 8

    private var tracks: [SegmentSummary.Flow: Track] = [:]

    public init() {}

    /// Flows followed now (bounded by `maximumFlows`).
    public var followed: Int { tracks.count }

    /// Takes one sampled segment seen at `now` (milliseconds, monotonic); returns evidence the first time
    /// its flow shows the signature.
    public mutating func observe(_ segment: SegmentSummary, at now: Int64) -> Evidence? {
        guard segment.packetLength > Self.minimumPacket, segment.dataLength > 0 else { return nil }
        if tracks[segment.flow] == nil, tracks.count >= Self.maximumFlows { forgetOldest(now: now) }
        var track = tracks[segment.flow] ?? Track(lastSeen: now)
        defer { tracks[segment.flow] = track }
        track.lastSeen = now
        guard let index = track.segments.firstIndex(where: { $0.sequence == segment.sequence }) else {
            if track.segments.count >= Self.segmentsPerFlow { track.segments.removeFirst() }
            track.segments.append(Copies(sequence: segment.sequence, packetLength: segment.packetLength, times: [now]))
            return nil
        }
        var copies = track.segments[index]
        copies.times.append(now)
        copies.packetLength = min(copies.packetLength, segment.packetLength)
        if copies.times.count > Self.sightings { copies.times.removeFirst(copies.times.count - Self.sightings) }
        track.segments[index] = copies
        guard !track.reported, copies.times.count == Self.sightings else { return nil }
        let gaps = zip(copies.times.dropFirst(), copies.times).map { $0 - $1 }
        guard gaps.allSatisfy({ $0 >= Self.minimumGap }) else { return nil }
        guard zip(gaps.dropFirst(), gaps).allSatisfy({ Double($0) >= Double($1) * Self.backoff }) else { return nil }
        guard copies.packetLength > Self.minimumPacket else { return nil }
        track.reported = true
        return Evidence(
            family: segment.family, flow: segment.flow, sequence: copies.sequence, packetLength: copies.packetLength,
            sightings: copies.times.count, gaps: gaps)
    }

    /// Drops flows idle for `idle`, and when that frees too little, the least recently seen quarter (at
    /// once, so a stream of new flows costs one sort per thousand, not one scan each).
    private mutating func forgetOldest(now: Int64) {
        tracks = tracks.filter { now - $0.value.lastSeen < Self.idle }
        guard tracks.count >= Self.maximumFlows else { return }
        let cutoff = tracks.values.map(\.lastSeen).sorted()[Self.maximumFlows / 4]
        tracks = tracks.filter { $0.value.lastSeen > cutoff }
    }
}
