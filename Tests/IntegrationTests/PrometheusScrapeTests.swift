import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Debian's real Prometheus scraping a running daemon, with packaging/mssclamp-alerts.yml loaded: what
/// the daemon exports is what Prometheus stores, and the shipped rules evaluate against it.
@Suite(
    "Prometheus scrapes the daemon",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct PrometheusScrapeTests {
    static let rules = Repository.root.appendingPathComponent("packaging/mssclamp-alerts.yml").path
    static let metricsAddress = "127.0.0.1:9469"
    static let prometheusAddress = "127.0.0.1:9090"
    /// Waits only detect a hang: with 1 s scrapes and evaluations each normally takes a few seconds.
    static let hang: TimeInterval = 60

    /// The alert names of the rule file.
    static func alertNames() throws -> Set<String> {
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        return Set(text.split(separator: "\n").compactMap { line in
            line.wholeMatch(of: /\s*-\s*alert:\s*(\S+)\s*/).map { String($0.output.1) }
        })
    }

    /// Prometheus's HTTP API in the gateway namespace: `data` of a successful answer, else nil.
    static func api(_ lab: Lab, _ path: String, query: String? = nil) throws -> Any? {
        let arguments = ["curl", "-s", "--max-time", "5", "-G", "http://\(prometheusAddress)\(path)"]
            + (query.map { ["--data-urlencode", "query=\($0)"] } ?? [])
        let result = try lab.run(lab.gateway, arguments)
        guard result.succeeded,
            let object = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
            object["status"] as? String == "success"
        else { return nil }
        return object["data"]
    }

    /// An instant query: each series' labels and value.
    static func query(_ lab: Lab, _ promql: String) throws -> [(labels: [String: String], value: Double)] {
        guard let data = try api(lab, "/api/v1/query", query: promql) as? [String: Any],
            let result = data["result"] as? [[String: Any]]
        else { return [] }
        return result.compactMap { series in
            guard let labels = series["metric"] as? [String: String], let pair = series["value"] as? [Any],
                pair.count == 2, let text = pair[1] as? String, let value = Double(text)
            else { return nil }
            return (labels, value)
        }
    }

    /// The daemon clamps three connections; Prometheus, scraping it every second, reports the target up,
    /// stores the clamped count the daemon itself reports, loads every alert of the rule file with health
    /// "ok" and none firing but the one the test provokes: the mangle table flushed by another tool, put
    /// back by the daemon, raises MSSClampRulesRestored from the daemon's real counter.
    @Test func prometheusScrapesTheDaemonAndEvaluatesTheAlerts() throws {
        try #require(
            Shell.has("prometheus"),
            "prometheus is not on PATH: install Debian's prometheus package (scripts/test does)")
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon([
            "--mss", "1300", "--queue", "0", "--install-rules", "--metrics", Self.metricsAddress,
        ])

        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mssclamp-test-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("prometheus.yml").path
        try """
        global:
          scrape_interval: 1s
          scrape_timeout: 1s
          evaluation_interval: 1s
        rule_files:
          - \(Self.rules)
        scrape_configs:
          - job_name: mssclamp
            static_configs:
              - targets: ["\(Self.metricsAddress)"]
        """.write(toFile: config, atomically: true, encoding: .utf8)
        // In the gateway namespace, so its port and the daemon's are private to this test.
        let prometheus = try lab.spawn(lab.gateway, [
            "prometheus", "--config.file=\(config)", "--storage.tsdb.path=\(directory.path)/data",
            "--web.listen-address=\(Self.prometheusAddress)", "--log.level=warn",
        ])
        // Declared after the directory's: runs first, so Prometheus has stopped writing before removal.
        defer { prometheus.stop(signal: SIGTERM, timeout: 10) }
        let ready = try eventually(timeout: Self.hang) {
            guard prometheus.isRunning else { return true }
            let probe = ["curl", "-sf", "--max-time", "5", "http://\(Self.prometheusAddress)/-/ready"]
            return try lab.run(lab.gateway, probe).succeeded
        }
        try #require(ready && prometheus.isRunning, "prometheus did not become ready: \(prometheus.output)")

        var up: [(labels: [String: String], value: Double)] = []
        let scraped = try eventually(timeout: Self.hang) {
            up = try Self.query(lab, "up{job=\"mssclamp\"}")
            return up.first?.value == 1
        }
        try #require(scraped, "up{job=\"mssclamp\"}: \(up), prometheus: \(prometheus.output)")
        #expect(up.first?.labels["instance"] == Self.metricsAddress, "\(up)")

        // Three connections: three SYNs and three SYN/ACKs clamped. The daemon's own endpoint is the
        // oracle for the value Prometheus must store.
        for _ in 0..<3 { #expect(try lab.serverMSS(from: lab.client, host: Lab.serverIPv4).maxseg <= 1300) }
        // (A retransmitted SYN would add one: both sides are read again until they agree.)
        let series = "mssclamp_outcomes_total{outcome=\"clamped\"}"
        var exported: Double?
        var stored: [(labels: [String: String], value: Double)] = []
        let matched = try eventually(timeout: Self.hang) {
            let text = try lab.exec(
                lab.gateway, ["curl", "-s", "--max-time", "5", "http://\(Self.metricsAddress)/metrics"])
            exported = MetricsTests.value(text, series)
            stored = try Self.query(lab, series)
            return (exported ?? 0) >= 6 && stored.count == 1 && stored.first?.value == exported
        }
        #expect(matched, "Prometheus has \(stored), the daemon exports \(exported.map { "\($0)" } ?? "nothing")")
        #expect(stored.first?.labels["job"] == "mssclamp", "\(stored)")
        #expect(try Self.query(lab, "mssclamp_policy_version").first?.value == 1)

        // Every alert of the file loaded and evaluated without error (health "unknown" until the first
        // evaluation, "err" when an expression fails on real data).
        let alerts = try Self.alertNames()
        var loaded: [String: String] = [:]
        var errors: [String] = []
        let evaluated = try eventually(timeout: Self.hang) {
            guard let data = try Self.api(lab, "/api/v1/rules") as? [String: Any],
                let groups = data["groups"] as? [[String: Any]]
            else { return false }
            loaded = [:]
            errors = []
            for group in groups {
                for rule in group["rules"] as? [[String: Any]] ?? [] where rule["type"] as? String == "alerting" {
                    guard let name = rule["name"] as? String else { continue }
                    loaded[name] = rule["health"] as? String ?? "?"
                    if let error = rule["lastError"] as? String, !error.isEmpty { errors.append("\(name): \(error)") }
                }
            }
            return Set(loaded.keys) == alerts && loaded.values.allSatisfy { $0 == "ok" }
        }
        #expect(evaluated, "alert rules in Prometheus: \(loaded), the file has \(alerts.sorted()); errors: \(errors)")
        #expect(errors.isEmpty, "\(errors)")
        // A worker stall is the one a healthy daemon may raise: a loaded machine can keep a thread off
        // the CPU for a second, and that is what the alert reports.
        let firing = try Self.firingAlerts(lab).filter { $0["alertname"] != "MSSClampWorkerStalls" }
        #expect(firing.isEmpty, "a healthy daemon raised \(firing)")

        // Another tool flushes the mangle table; the daemon puts its rules back and counts it, and the
        // shipped rule sees the count rise from the 0 Prometheus already stored.
        try lab.exec(lab.gateway, ["iptables", "-t", "mangle", "-F"])
        var raised: [[String: String]] = []
        let restored = try eventually(timeout: Self.hang) {
            raised = try Self.firingAlerts(lab)
            return raised.contains { $0["alertname"] == "MSSClampRulesRestored" }
        }
        #expect(restored, "no MSSClampRulesRestored firing: \(raised); daemon: \(daemon.output)")
        let alert = raised.first { $0["alertname"] == "MSSClampRulesRestored" }
        #expect(alert?["job"] == "mssclamp", "\(raised)")
        #expect(alert?["instance"] == Self.metricsAddress, "\(raised)")
        #expect(alert?["severity"] == "warning", "\(raised)")
        #expect(prometheus.isRunning, "\(prometheus.output)")
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0)
    }

    /// The labels of every alert Prometheus has firing.
    static func firingAlerts(_ lab: Lab) throws -> [[String: String]] {
        guard let data = try api(lab, "/api/v1/alerts") as? [String: Any],
            let alerts = data["alerts"] as? [[String: Any]]
        else { return [] }
        return alerts.filter { $0["state"] as? String == "firing" }.compactMap { $0["labels"] as? [String: String] }
    }
}
