import Foundation
import TestSupport
import Testing

@testable import MSSDaemon

/// packaging/mssclamp-alerts.yml and packaging/mssclamp-grafana.json: promtool accepts the rules, the
/// dashboard is JSON, and every mssclamp metric either names is one the daemon exports (a renamed metric
/// would leave an alert that never fires, a panel that stays empty).
struct AlertRulesTests {
    static let path = Repository.root.appendingPathComponent("packaging/mssclamp-alerts.yml").path
    static let dashboard = Repository.root.appendingPathComponent("packaging/mssclamp-grafana.json").path

    @Test(arguments: [path, dashboard])
    func everyMetricNamedIsExported(file: String) throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        if file.hasSuffix(".json") {
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            #expect((object?["panels"] as? [Any])?.count ?? 0 >= 10)
        }
        let named = Set(text.matches(of: /mssclamp_[a-z_]+/).map { String($0.output) })
        #expect(named.count >= 5, "\(named)")
        var counted = Statistics()
        counted.safetyNetClamped = 1
        counted.queuedShare = 1
        counted.malformed = ["option_length": 1]
        counted.peers = ["rw/a": PeerCounters()]
        counted.autoCeilings = [AutoCeilingReport(peer: "rw/a", template: "rw", address: "10.9.0.2", state: "measured", mss4: 1380, mss6: 1360, pathMTU: 1420, at: 1)]
        let statistics = counted
        let rendering = MetricsRendering {
            MetricsRendering.Snapshot(
                statistics: statistics,
                kernel: [KernelQueueStatus(queue: 0, portID: 1, waiting: 0, queueDropped: 0, userDropped: 0, lastID: 0)],
                policyVersion: 1, changes: ["reload_rejected": 1], peers: 0)
        }
        let exported = Set(rendering.render().split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
            $0.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init)
        })
        let missing = named.subtracting(exported)
        #expect(missing.isEmpty, "\(file) names metrics the daemon does not export: \(missing.sorted())")
    }

    @Test(.enabled(if: Shell.has("promtool"), "promtool (Debian package prometheus) is not installed; scripts/test installs it"))
    func promtoolAcceptsTheRules() throws {
        let result = try Shell.run(["promtool", "check", "rules", Self.path], timeout: 60)
        #expect(result.status == 0, "\(result.output)\(result.error)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }
}
