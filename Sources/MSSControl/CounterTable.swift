/// The daemon's counters, in one table. The workers' fixed-size counters, `Statistics` and its JSON,
/// merging, the `stats` report and the Prometheus metrics are all derived from it.
///
/// A new daemon-wide counter is one case here and its row in `spec`; a new per-peer counter is one case in
/// `PeerCounter` and its row there. The JSON key is the case name; nothing else needs to change.
public enum Counter: Int, CaseIterable, Sendable, CounterKey {
    case packets, truncated, checksumNotReady, netlinkMalformed, verdictErrors, dropped, malformedClamped
    case tinyMSS, batches, largestBatch, workerStalls, stallMilliseconds, drained, rulesRestored

    /// What the metrics and the report say of each counter: metric name, help, report label, report note.
    public var spec: CounterSpec {
        switch self {
        case .packets: CounterSpec("packets", "Packets seen by the workers")
        case .truncated:
            CounterSpec("truncated", "Payloads cut by the copy range, accepted unmodified")
        case .checksumNotReady:
            CounterSpec(
                "checksum_not_ready", "Packets whose checksum was left to offload", label: "csum_not_ready",
                note: "checksum left to offload; completed when modified")
        case .netlinkMalformed:
            CounterSpec("netlink_malformed", "Netlink messages from the queue that could not be parsed")
        case .verdictErrors: CounterSpec("verdict_errors", "Error acknowledgements from the kernel")
        case .dropped:
            CounterSpec("dropped", "Malformed SYNs dropped (malformed = drop)", note: "malformed, drop configured")
        case .malformedClamped:
            CounterSpec(
                "malformed_clamped", "Malformed SYNs whose MSS options before the malformation were clamped",
                note: "malformed, with an MSS before the malformation: clamped")
        case .tinyMSS:
            CounterSpec(
                "tiny_mss",
                "SYNs whose smallest MSS is below 536 (IPv4) or 1220 (IPv6): SACK-panic class (CVE-2019-11477) or a broken middlebox",
                note: "smallest MSS below 536/1220; counted, never raised")
        case .batches: CounterSpec("batches", "Batches received")
        case .largestBatch:
            CounterSpec("batch_largest", "Largest batch so far", label: "largest_batch", kind: .largest)
        case .workerStalls:
            CounterSpec(
                "worker_stalls", "Times a worker did not pull its queue for longer than a second", label: "stalls",
                note: "the loop turned late: SYNs waited")
        case .stallMilliseconds:
            CounterSpec(
                "worker_stall_milliseconds", "Time workers spent stalled (queued SYNs waited)", label: "stall_ms")
        case .drained:
            CounterSpec(
                "drained", "Packets given their verdict while stopping, after the queue left the path",
                note: "verdicted while stopping")
        case .rulesRestored:
            CounterSpec(
                "rules_restored", "Times the rules were found changed by another tool and put back",
                note: "rules put back after another tool changed them")
        }
    }
}

/// Counters of one peer (SYNs attributed to it). The metrics export each as
/// `mssclamp_peer_packets_total{peer, outcome}`.
public enum PeerCounter: Int, CaseIterable, Sendable, CounterKey {
    case seen, clamped, alreadyLow, inserted, malformed, tinyMSS

    /// The label in the metrics and the report's per-peer table.
    public var label: String {
        switch self {
        case .seen: "seen"
        case .clamped: "clamped"
        case .alreadyLow: "already_low"
        case .inserted: "inserted"
        case .malformed: "malformed"
        case .tinyMSS: "tiny_mss"
        }
    }
}

/// How a counter combines and is exported.
public enum CounterKind: Sendable {
    /// A running total: summed, exported as a Prometheus counter (`_total`).
    case total
    /// The largest value seen: the maximum wins, exported as a gauge.
    case largest
}

/// One row of the counter table.
public struct CounterSpec: Sendable {
    /// The metric name under `mssclamp_` (a total gets `_total`).
    public let metric: String
    /// The metric's help text.
    public let help: String
    /// The row's label in `mssclamp stats` (the metric name unless given).
    public let label: String
    /// Shown in parentheses after the value in `mssclamp stats` ("" for none).
    public let note: String
    public let kind: CounterKind

    init(_ metric: String, _ help: String, label: String? = nil, note: String = "", kind: CounterKind = .total) {
        self.metric = metric
        self.help = help
        self.label = label ?? metric
        self.note = note
        self.kind = kind
    }
}
