import Foundation
import Prometheus
import Synchronization

/// The Prometheus endpoint of `mssclamp run --metrics HOST:PORT`: a small HTTP/1.0 responder on its own
/// thread that renders the daemon's counters through swift-prometheus on every scrape of `/metrics`.
final class MetricsServer: @unchecked Sendable {
    let address: String
    private let descriptor: Int32
    private let registry = PrometheusCollectorRegistry()
    private let snapshot: @Sendable () -> MetricsSnapshot
    private let stopFlag = Atomic(false)
    private var thread: WorkerThread?
    /// Batch sizes, recorded by the workers once per batch (never per packet).
    let batchSizes: ValueHistogram
    private let lock = Mutex(())

    /// What a scrape reports besides the histogram.
    struct MetricsSnapshot {
        var statistics: Statistics
        var kernel: [KernelQueueStatus]
        var policyVersion: UInt64
        var reloads: [String: UInt64]
        var peers: Int
    }

    /// Binds `host:port` (IPv4 or IPv6 literal; "[::1]:9469" for IPv6).
    init(address: String, snapshot: @escaping @Sendable () -> MetricsSnapshot) throws(DaemonError) {
        self.address = address
        self.snapshot = snapshot
        batchSizes = registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "mssclamp", metricName: "batch", unitName: "packets",
                helpText: "Packets per received batch (recvmmsg)"),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw DaemonError(message: "--metrics wants HOST:PORT, got '\(address)'", exitCode: 64)
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var storage = sockaddr_storage()
        var length: socklen_t
        var family: Int32
        if host.contains(":") {
            var address6 = sockaddr_in6()
            address6.sin6_family = sa_family_t(AF_INET6)
            address6.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &address6.sin6_addr) == 1 else {
                throw DaemonError(message: "--metrics: '\(host)' is not an address", exitCode: 64)
            }
            withUnsafeBytes(of: address6) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        } else {
            var address4 = sockaddr_in()
            address4.sin_family = sa_family_t(AF_INET)
            address4.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &address4.sin_addr) == 1 else {
                throw DaemonError(message: "--metrics: '\(host)' is not an address", exitCode: 64)
            }
            withUnsafeBytes(of: address4) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
        let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            let message = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw DaemonError(message: "cannot listen on \(address) for metrics: \(message)", exitCode: 69)
        }
        descriptor = fd
    }

    func start() { thread = WorkerThread { [self] in serve() } }

    func stop() {
        stopFlag.store(true, ordering: .relaxed)
        thread?.join()
        thread = nil
        close(descriptor)
    }

    private func serve() {
        while !stopFlag.load(ordering: .relaxed) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) > 0 else { continue }
            let client = accept(descriptor, nil, nil)
            guard client >= 0 else { continue }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let request = ControlClient.readLine(client).map { String(decoding: $0, as: UTF8.self) } ?? ""
            let path = request.split(separator: " ").dropFirst().first.map(String.init) ?? ""
            let response: String
            if request.hasPrefix("GET ") && (path == "/metrics" || path.hasPrefix("/metrics?")) {
                let body = render()
                response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            } else {
                response = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nmssclamp serves /metrics\n"
            }
            ControlClient.writeAll(client, Data(response.utf8))
            close(client)
        }
    }

    /// Brings the registry up to date with the counters and renders it.
    func render() -> String {
        lock.withLock { _ in
            let now = snapshot()
            func counter(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: UInt64) {
                let metric = registry.makeCounter(
                    descriptor: MetricNameDescriptor(
                        namespace: "mssclamp", metricName: String(name.dropFirst("mssclamp_".count)), unitName: "total",
                        helpText: help),
                    labels: labels)
                // The daemon's totals only grow: publish them as they are.
                metric.reset()
                metric.increment(by: Int64(clamping: value))
            }
            func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Double) {
                registry.makeGauge(
                    descriptor: MetricNameDescriptor(
                        namespace: "mssclamp", metricName: String(name.dropFirst("mssclamp_".count)), unitName: "",
                        helpText: help),
                    labels: labels
                ).set(to: value)
            }
            let stats = now.statistics
            counter("mssclamp_packets", "Packets seen by the workers", [], stats.packets)
            for (outcome, value) in stats.outcomes {
                counter("mssclamp_outcomes", "Packets per rewrite outcome", [("outcome", outcome)], value)
            }
            for (reason, value) in stats.malformed {
                counter("mssclamp_malformed", "Malformed packets per reason (accepted unmodified unless drop is set)", [("reason", reason)], value)
            }
            for (peer, counters) in stats.peers {
                for (outcome, value) in [("seen", counters.seen), ("clamped", counters.clamped), ("already_low", counters.alreadyLow), ("inserted", counters.inserted), ("malformed", counters.malformed)] {
                    counter("mssclamp_peer_packets", "SYNs per peer and outcome", [("peer", peer), ("outcome", outcome)], value)
                }
            }
            counter("mssclamp_truncated", "Payloads cut by the copy range, accepted unmodified", [], stats.truncated)
            counter("mssclamp_checksum_not_ready", "Packets whose checksum was left to offload", [], stats.checksumNotReady)
            counter("mssclamp_dropped", "Malformed SYNs dropped (malformed = drop)", [], stats.dropped)
            counter("mssclamp_verdict_errors", "Error acknowledgements from the kernel", [], stats.verdictErrors)
            counter("mssclamp_batches", "Batches received", [], stats.batches)
            gauge("mssclamp_batch_largest", "Largest batch so far", [], Double(stats.largestBatch))
            for queue in now.kernel {
                let labels = [("queue", String(queue.queue))]
                counter("mssclamp_queue_dropped", "Packets the kernel dropped because the queue was full (nfnetlink_queue)", labels, queue.queueDropped)
                counter("mssclamp_queue_user_dropped", "Packets the kernel could not send to the daemon (nfnetlink_queue)", labels, queue.userDropped)
                gauge("mssclamp_queue_waiting", "Packets waiting for a verdict", labels, Double(queue.waiting))
            }
            gauge("mssclamp_policy_version", "Version of the policy in force", [], Double(now.policyVersion))
            gauge("mssclamp_peers", "Peers in the policy in force", [], Double(now.peers))
            for (result, value) in now.reloads {
                counter("mssclamp_policy_changes", "Policy changes (reload, peer add/remove) by result", [("result", result)], value)
            }
            return registry.emitToString()
        }
    }
}
