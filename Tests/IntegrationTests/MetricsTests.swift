import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Prometheus metrics and the clamp audit log during a lab run.
@Suite(
    "Metrics and audit log",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct MetricsTests {
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    @Test func countersMoveWhileTheDaemonClamps() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules", "--metrics", "127.0.0.1:9469", "--log-clamps", "10"])
        func scrape() throws -> String { try lab.exec(lab.gateway, ["curl", "-s", "--max-time", "5", "http://127.0.0.1:9469/metrics"]) }
        let before = try scrape()
        #expect(before.contains("# TYPE mssclamp_outcomes_total counter"), "\(before)")
        let clampedBefore = Self.value(before, "mssclamp_outcomes_total{outcome=\"clamped\"}") ?? 0
        for _ in 0..<3 { _ = try lab.serverMSS(from: lab.client, host: Lab.serverIPv4) }
        // Three connections: three SYNs and three SYN/ACKs clamped (the worker publishes its counts just
        // after the verdict, so the last may show a moment after the handshake).
        var after = ""
        let counted = try eventually(timeout: 5) {
            after = try scrape()
            return (Self.value(after, "mssclamp_outcomes_total{outcome=\"clamped\"}") ?? 0) - clampedBefore >= 6
        }
        #expect(counted, "\(after)")
        #expect((Self.value(after, "mssclamp_peer_packets_total{peer=\"(default)\",outcome=\"clamped\"}") ?? 0) >= 6, "\(after)")
        #expect(Self.value(after, "mssclamp_queue_dropped_total{queue=\"0\"}") == 0, "\(after)")
        #expect(Self.value(after, "mssclamp_policy_version") == 1, "\(after)")
        #expect(after.contains("mssclamp_batch_packets_bucket"), "\(after)")
        #expect(try lab.run(lab.gateway, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:9469/nope"]).output == "404")
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("clamp peer=(default) 192.0.2.2 -> 203.0.113.2 mss 1460 -> 1300") }, "\(daemon.output)")
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0)
    }

    /// `--log-clamps 5` under 300 connections in 2 s (600 clamps): at most 5 lines a second, and what was
    /// not logged is counted on the next line, so lines plus "N more not logged" add up to every clamp.
    @Test func theAuditLogKeepsItsRateAndCountsTheRest() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules", "--log-clamps", "5"])
        let started = Date()
        let load = try lab.exec(lab.client, ["python3", Repository.script("labtool"), "rate", Lab.serverIPv4, "80", "150", "2"])
        #expect(load.contains("\"count\": 300"), "\(load)")
        let seconds = Date().timeIntervalSince(started)
        let burstLines = daemon.output.split(separator: "\n").filter { $0.contains("clamp peer=") }.count
        // A burst spanning S seconds touches at most S + 2 one-second windows of the clock.
        #expect(burstLines >= 5 && burstLines <= 5 * (Int(seconds) + 2), "\(burstLines) lines in \(seconds) s")
        // One more connection in a fresh second: its SYN's line carries the count of what was held back.
        usleep(1_100_000)
        _ = try lab.handshakeMSS()
        var clamped = 0
        var lines: [Substring] = []
        let added = try eventually(timeout: 5) {
            clamped = try lab.daemonClamped()
            lines = daemon.output.split(separator: "\n").filter { $0.contains("clamp peer=") }
            let held = lines.compactMap { $0.firstMatch(of: /\((\d+) more not logged\)/).flatMap { Int($0.output.1) } }.reduce(0, +)
            return clamped >= 602 && lines.count + held == clamped
        }
        #expect(added, "\(lines.count) lines and their counts of lines not logged do not add up to \(clamped) clamps: \(lines.suffix(4))")
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0)
    }
}
