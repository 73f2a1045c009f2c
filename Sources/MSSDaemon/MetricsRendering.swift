import Prometheus
import Synchronization

/// The daemon's counters in the Prometheus text format, through swift-prometheus.
///
/// Counters are rendered into a fresh registry on every scrape: a registry keeps every series it ever
/// made, and peers come and go, so a long-lived one would grow without bound. Only the batch-size
/// histogram, which the workers feed, lives for the daemon's whole life (its series are fixed).
final class MetricsRendering: Sendable {
    /// What a scrape reports besides the histogram.
    struct Snapshot {
        var statistics: Statistics
        var kernel: [KernelQueueStatus]
        var policyVersion: UInt64
        var changes: [String: UInt64]
        var peers: Int
    }

    private let snapshot: @Sendable () -> Snapshot
    private let histograms = PrometheusCollectorRegistry()
    /// Batch sizes, recorded by the workers once per batch (never per packet).
    let batchSizes: ValueHistogram
    private let lock = Mutex(())

    init(snapshot: @escaping @Sendable () -> Snapshot) {
        self.snapshot = snapshot
        batchSizes = histograms.makeValueHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "mssclamp", metricName: "batch", unitName: "packets",
                helpText: "Packets per received batch (recvmmsg)"),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    }

    func render() -> String {
        lock.withLock { _ in
            let now = snapshot()
            let registry = PrometheusCollectorRegistry()
            func counter(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: UInt64) {
                registry.makeCounter(
                    descriptor: MetricNameDescriptor(namespace: "mssclamp", metricName: name, unitName: "total", helpText: help),
                    labels: labels
                ).increment(by: Int64(clamping: value))
            }
            func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Double) {
                registry.makeGauge(
                    descriptor: MetricNameDescriptor(namespace: "mssclamp", metricName: name, unitName: "", helpText: help),
                    labels: labels
                ).set(to: value)
            }
            let stats = now.statistics
            counter("packets", "Packets seen by the workers", [], stats.packets)
            for (outcome, value) in stats.outcomes.sorted(by: { $0.key < $1.key }) {
                counter("outcomes", "Packets per rewrite outcome", [("outcome", outcome)], value)
            }
            for (reason, value) in stats.malformed.sorted(by: { $0.key < $1.key }) {
                counter("malformed", "Malformed packets per reason (accepted unmodified unless drop is set)", [("reason", reason)], value)
            }
            for (peer, counters) in stats.peers.sorted(by: { $0.key < $1.key }) {
                for (outcome, value) in [
                    ("seen", counters.seen), ("clamped", counters.clamped), ("already_low", counters.alreadyLow),
                    ("inserted", counters.inserted), ("malformed", counters.malformed),
                ] {
                    counter("peer_packets", "SYNs per peer and outcome", [("peer", peer), ("outcome", outcome)], value)
                }
            }
            counter("truncated", "Payloads cut by the copy range, accepted unmodified", [], stats.truncated)
            counter("checksum_not_ready", "Packets whose checksum was left to offload", [], stats.checksumNotReady)
            counter("dropped", "Malformed SYNs dropped (malformed = drop)", [], stats.dropped)
            counter("malformed_clamped", "Malformed SYNs whose MSS options before the malformation were clamped", [], stats.malformedClamped)
            counter("verdict_errors", "Error acknowledgements from the kernel", [], stats.verdictErrors)
            counter("batches", "Batches received", [], stats.batches)
            gauge("batch_largest", "Largest batch so far", [], Double(stats.largestBatch))
            for queue in now.kernel {
                let labels = [("queue", String(queue.queue))]
                counter("queue_dropped", "Packets the kernel dropped because the queue was full (nfnetlink_queue)", labels, queue.queueDropped)
                counter("queue_user_dropped", "Packets the kernel could not send to the daemon (nfnetlink_queue)", labels, queue.userDropped)
                gauge("queue_waiting", "Packets waiting for a verdict", labels, Double(queue.waiting))
            }
            gauge("policy_version", "Version of the policy in force", [], Double(now.policyVersion))
            gauge("peers", "Peers in the policy in force", [], Double(now.peers))
            for (result, value) in now.changes.sorted(by: { $0.key < $1.key }) {
                counter("policy_changes", "Policy changes (reload, peer add/remove) by result", [("result", result)], value)
            }
            counter("worker_stalls", "Times a worker did not pull its queue for longer than a second", [], stats.workerStalls)
            counter("worker_stall_milliseconds", "Time workers spent stalled (queued SYNs waited)", [], stats.stallMilliseconds)
            counter("drained", "Packets given their verdict while stopping, after the queue left the path", [], stats.drained)
            counter("rules_restored", "Times the rules were found changed by another tool and put back", [], stats.rulesRestored)
            for auto in stats.autoCeilings {
                for (family, value) in [("ipv4", auto.mss4), ("ipv6", auto.mss6)] {
                    guard let value else { continue }
                    gauge("auto_ceiling", "MSS ceiling of an mss = auto peer, by how it was learned (measured, fallback, measuring)",
                        [("peer", auto.peer), ("family", family), ("state", auto.state)], Double(value))
                }
                if let at = auto.at {
                    gauge("auto_measured_timestamp_seconds", "When an mss = auto peer was last measured (or fell back)", [("peer", auto.peer)], at)
                }
            }
            if let share = stats.queuedShare {
                gauge("queue_sampled_share", "Share of SYNs the queue takes: 1, less while the daemon sheds an overload to the safety net", [], share)
                counter("shedding_episodes", "Times the daemon started shedding an overload to the kernel safety net", [], stats.sheddingEpisodes)
            }
            if let clamped = stats.safetyNetClamped {
                counter("safety_net_clamped", "SYNs the kernel safety net clamped because user space did not take them", [], clamped)
            }
            var buffer = histograms.emitToBuffer()
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
    }
}
