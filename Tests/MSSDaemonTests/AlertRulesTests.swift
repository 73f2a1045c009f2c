import Foundation
import TestSupport
import Testing

@testable import MSSDaemon

/// packaging/mssclamp-alerts.yml: promtool accepts it, and every mssclamp metric it names is one the
/// daemon exports (a renamed metric would leave an alert that never fires).
struct AlertRulesTests {
    static let path = Repository.root.appendingPathComponent("packaging/mssclamp-alerts.yml").path

    @Test func everyMetricAnAlertNamesIsExported() throws {
        let rules = try String(contentsOfFile: Self.path, encoding: .utf8)
        let named = Set(rules.matches(of: /mssclamp_[a-z_]+/).map { String($0.output) })
        #expect(named.count >= 5, "\(named)")
        var counted = Statistics()
        counted.safetyNetClamped = 1
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
        #expect(missing.isEmpty, "alerts name metrics the daemon does not export: \(missing.sorted())")
    }

    @Test(.enabled(if: Shell.has("promtool"), "promtool (Debian package prometheus) is not installed; scripts/test installs it"))
    func promtoolAcceptsTheRules() throws {
        let result = try Shell.run(["promtool", "check", "rules", Self.path], timeout: 60)
        #expect(result.status == 0, "\(result.output)\(result.error)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }
}
