import MSSControl
import MSSQueue
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
                self.counter(registry, name, help, labels, value)
            }
            func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Double) {
                self.gauge(registry, name, help, labels, value)
            }
            let stats = now.statistics
            for key in Counter.allCases {
                let spec = key.spec
                switch spec.kind {
                case .total: counter(spec.metric, spec.help, [], stats[key])
                case .largest: gauge(spec.metric, spec.help, [], Double(stats[key]))
                }
            }
            for (outcome, value) in stats.outcomes.sorted(by: { $0.key < $1.key }) {
                counter("outcomes", "Packets per rewrite outcome", [("outcome", outcome)], value)
            }
            for (reason, value) in stats.malformed.sorted(by: { $0.key < $1.key }) {
                counter("malformed", "Malformed packets per reason (accepted unmodified unless drop is set)", [("reason", reason)], value)
            }
            for (peer, counts) in stats.peers.sorted(by: { $0.key < $1.key }) {
                for key in PeerCounter.allCases {
                    counter("peer_packets", "SYNs per peer and outcome", [("peer", peer), ("outcome", key.label)], counts[key])
                }
            }
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
            if let strongswan = stats.strongswan {
                gauge("strongswan_connected", "1 while the daemon follows charon over VICI, 0 while it reconnects",
                    [("socket", strongswan.socket)], strongswan.connected ? 1 : 0)
                for sa in strongswan.sas {
                    for (family, value) in [("ipv4", sa.mss4), ("ipv6", sa.mss6)] {
                        guard let value else { continue }
                        gauge("ipsec_sa_ceiling", "MSS ceiling an IPsec CHILD_SA's negotiated proposal gives its peer",
                            [("peer", sa.peer), ("connection", sa.connection), ("sa", sa.childID), ("proposal", sa.proposal),
                             ("family", family)], Double(value))
                    }
                }
            }
            if let holes = stats.blackHoles {
                counter("black_hole_samples", "Large TCP segments the black-hole sampler copied to the daemon", [], holes.samples)
                for (peer, value) in holes.signatures.sorted(by: { $0.key < $1.key }) {
                    counter("black_hole_signatures", "Flows toward a peer whose full-size segment was resent on a backed-off timer", [("peer", peer)], value)
                }
                for (peer, value) in holes.lowered.sorted(by: { $0.key < $1.key }) {
                    counter("black_holes_detected", "Black holes confirmed by a sweep: an address of the peer got a lower ceiling", [("peer", peer)], value)
                }
                counter("black_hole_dismissed", "Signatures whose sweep showed the segment fits the path (loss, a receiver gone)", [], holes.dismissed)
                gauge("detected_ceilings", "Addresses with a detected (lowered) ceiling in force", [], Double(holes.detected.count))
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

    private func counter(
        _ registry: PrometheusCollectorRegistry, _ name: String, _ help: String, _ labels: [(String, String)],
        _ value: UInt64
    ) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "mssclamp", metricName: name, unitName: "total", helpText: help),
            labels: labels
        ).increment(by: Int64(clamping: value))
    }

    private func gauge(
        _ registry: PrometheusCollectorRegistry, _ name: String, _ help: String, _ labels: [(String, String)],
        _ value: Double
    ) {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(namespace: "mssclamp", metricName: name, unitName: "", helpText: help),
            labels: labels
        ).set(to: value)
    }
}
