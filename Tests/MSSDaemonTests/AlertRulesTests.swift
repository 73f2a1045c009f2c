import Foundation
import MSSControl
import MSSQueue
import Testing
import TestSupport

@testable import MSSDaemon

/// packaging/mssclamp-alerts.yml and packaging/mssclamp-grafana.json: promtool accepts the rules and
/// passes their unit tests (packaging/mssclamp-alerts.test.yml), every alert has a case where it fires
/// and one where it stays quiet, the dashboard is JSON, and every mssclamp metric either names is one
/// the daemon exports (a renamed metric would leave an alert that never fires, a panel that stays empty).
/// promtool missing is a failure, not a skip: scripts/test installs it (Debian package prometheus).
struct AlertRulesTests {
    static let path = Repository.root.appendingPathComponent("packaging/mssclamp-alerts.yml").path
    static let unitTests = Repository.root.appendingPathComponent("packaging/mssclamp-alerts.test.yml").path
    static let dashboard = Repository.root.appendingPathComponent("packaging/mssclamp-grafana.json").path
    static let noPromtool = "promtool is not on PATH: install Debian's prometheus package (scripts/test does)"

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
        counted.strongswan = StrongSwanReport(
            socket: "/var/run/charon.vici", connected: true, since: 1, error: nil,
            sas: [IPsecSAReport(peer: "ipsec/rw.net@10.9.0.1_32", connection: "rw/net", childID: "3", remoteHost: "192.0.2.2",
                                proposal: "ESP AES_GCM_16-256 in UDP, IPv4 outer", linkMTU: 1400, linkSource: "link_mtu",
                                mss4: 1298, mss6: 1278, assumed: nil)])
        var holes = BlackHoleReport(table: "mssclamp_sample", group: 19795)
        holes.signatures = ["rw/a": 1]
        holes.lowered = ["rw/a": 1]
        counted.blackHoles = holes
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

    @Test func promtoolAcceptsTheRules() throws {
        try #require(Shell.has("promtool"), Comment(rawValue: Self.noPromtool))
        let result = try Shell.run(["promtool", "check", "rules", Self.path], timeout: 60)
        #expect(result.status == 0, "\(result.output)\(result.error)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }

    /// `promtool test rules`: every case's alerts, labels and annotations are what the rules give.
    @Test func promtoolPassesTheAlertUnitTests() throws {
        try #require(Shell.has("promtool"), Comment(rawValue: Self.noPromtool))
        let result = try Shell.run(["promtool", "test", "rules", Self.unitTests], timeout: 120)
        #expect(result.status == 0, "\(result.output)\(result.error)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }

    /// A new alert without a firing and a quiet case fails here; so does a case naming an alert the rules
    /// no longer have (its quiet cases would pass for nothing).
    @Test func everyAlertHasAFiringAndAQuietCase() throws {
        let rules = try String(contentsOfFile: Self.path, encoding: .utf8)
        let alerts = rules.split(separator: "\n").compactMap { line in
            line.wholeMatch(of: /\s*-\s*alert:\s*(\S+)\s*/).map { String($0.output.1) }
        }
        #expect(alerts.count >= 7, "\(alerts)")
        let cases = try AlertTestCases(try String(contentsOfFile: Self.unitTests, encoding: .utf8))
        for alert in alerts {
            #expect(cases.firing.contains(alert), "\(alert) has no case in mssclamp-alerts.test.yml where it fires")
            #expect(cases.quiet.contains(alert), "\(alert) has no case in mssclamp-alerts.test.yml where it is quiet")
        }
        let unknown = cases.firing.union(cases.quiet).subtracting(alerts)
        #expect(unknown.isEmpty, "mssclamp-alerts.test.yml tests alerts the rules do not have: \(unknown.sorted())")
    }

    /// The reader above on both YAML styles promtool accepts, so a case it misreads cannot pass as covered.
    @Test func theCaseReaderTellsFiringFromQuiet() throws {
        let cases = try AlertTestCases(
            """
            tests:
              - alert_rule_test:
                  - eval_time: 5m
                    alertname: Block
                    exp_alerts:
                      - exp_labels: {severity: warning}
                  - eval_time: 1m
                    alertname: Empty
                    exp_alerts: []
                  - {eval_time: 5m, alertname: Flow, exp_alerts: [{exp_labels: {a: b}}]}
                  - {eval_time: 1m, alertname: FlowEmpty, exp_alerts: []}
                  - eval_time: 1m
                    alertname: Missing
              - alert_rule_test:
                  - alertname: KeyFirst
                    exp_alerts:
                    # a comment between
                      - exp_labels: {}
            """)
        #expect(cases.firing == ["Block", "Flow", "KeyFirst"])
        #expect(cases.quiet == ["Empty", "FlowEmpty", "Missing"])
        #expect(throws: (any Error).self) { try AlertTestCases("  - alertname: Odd\n    exp_alerts: maybe\n") }
    }
}

/// The alert names of a promtool unit-test file, by whether a case expects them to fire or to stay
/// quiet. Read line by line (the file keeps each case's `alertname:` and `exp_alerts:` together), not
/// with a YAML library: the package has none, and the file is ours.
struct AlertTestCases {
    struct Unreadable: Error, CustomStringConvertible {
        var line: Int
        var text: String
        var description: String { "line \(line): cannot tell whether this case fires: \(text)" }
    }

    var firing: Set<String> = []
    var quiet: Set<String> = []

    init(_ text: String) throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func indent(_ line: String) -> Int { line.prefix { $0 == " " }.count }
        func isBlank(_ line: String) -> Bool {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty || trimmed.hasPrefix("#")
        }
        for (number, line) in lines.enumerated() {
            // Flow style: one case on one line.
            if let flow = line.firstMatch(of: /\{.*\balertname:\s*([A-Za-z0-9_]+)(.*)\}/) {
                let name = String(flow.output.1)
                guard let expected = line.firstMatch(of: /exp_alerts:\s*\[\s*(\S?)/) else {
                    quiet.insert(name)
                    continue
                }
                if expected.output.1 == "]" { quiet.insert(name) } else { firing.insert(name) }
                continue
            }
            // Block style: the case is the list item holding `alertname:`; its keys sit at that key's
            // column (the item's `- ` counted as indent) and its values deeper.
            guard let match = line.wholeMatch(of: /(\s*(?:-\s+)?)alertname:\s*([A-Za-z0-9_]+)\s*/) else { continue }
            let name = String(match.output.2)
            let column = match.output.1.count
            func inside(_ line: String) -> Bool { isBlank(line) || indent(line) >= column }
            var start = number
            if !match.output.1.contains("-") {
                while start > 0, inside(lines[start - 1]) { start -= 1 }
                start = max(start - 1, 0)  // the line with the item's `- `
            }
            var end = number + 1
            while end < lines.count, inside(lines[end]) { end += 1 }
            var verdict: Bool? = nil  // true: fires, false: quiet
            for key in start..<end where indent(lines[key]) <= column {
                guard let value = lines[key].firstMatch(of: /exp_alerts:(.*)/)?.output.1 else { continue }
                let rest = value.trimmingCharacters(in: .whitespaces)
                if rest == "[]" {
                    verdict = false
                } else if rest.hasPrefix("[") {
                    verdict = true
                } else if rest.isEmpty || rest.hasPrefix("#") {
                    // A block list follows; nothing listed means null, which promtool reads as no alerts.
                    let next = lines[(key + 1)..<end].first { !isBlank($0) }
                    verdict = next.map { $0.trimmingCharacters(in: .whitespaces).hasPrefix("-") } ?? false
                } else {
                    throw Unreadable(line: key + 1, text: lines[key])
                }
            }
            if verdict ?? false { firing.insert(name) } else { quiet.insert(name) }
        }
    }
}
