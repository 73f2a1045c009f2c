import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Least privilege: once the queue is bound the daemon keeps CAP_NET_ADMIN only (bit 12), in every thread,
/// and with --user it also leaves root; it still clamps, and still removes its rules on exit.
@Suite(
    "Least privilege",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct PrivilegeTests {
    static func status(_ pid: Int32) -> [String: String] {
        var fields: [String: String] = [:]
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for task in tasks {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "Uid"].contains(parts[0]) else { continue }
                // Every thread must agree; a disagreement shows up as two values joined.
                if let existing = fields[parts[0]], existing != parts[1] { fields[parts[0]] = existing + " | " + parts[1] } else { fields[parts[0]] = parts[1] }
            }
        }
        return fields
    }

    @Test(arguments: [nil, "nobody"] as [String?])
    func onlyNetAdminRemainsAfterTheQueueIsBound(user: String?) throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules"] + (user.map { ["--user", $0] } ?? []))
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("privileges dropped") }, "\(daemon.output)")
        let fields = Self.status(daemon.pid)
        let netAdminOnly = "0000000000001000"
        #expect(fields["CapEff"] == netAdminOnly, "\(fields)")
        #expect(fields["CapPrm"] == netAdminOnly, "\(fields)")
        #expect(fields["CapBnd"] == netAdminOnly, "\(fields)")
        #expect(fields["CapAmb"] == netAdminOnly, "\(fields)")
        if user != nil {
            #expect(fields["Uid"]?.hasPrefix("65534") == true, "\(fields)")
        } else {
            #expect(fields["Uid"]?.hasPrefix("0\t") == true || fields["Uid"]?.hasPrefix("0 ") == true, "\(fields)")
        }
        // It still clamps with what is left.
        let mss = try lab.serverMSS(from: lab.client, host: Lab.serverIPv4)
        #expect(mss.maxseg + (mss.timestamps ? 12 : 0) == 1300)
        // And removes its rules on the way out (iptables runs with the ambient CAP_NET_ADMIN).
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0, "\(daemon.output)")
        #expect(daemon.output.contains("rules removed"), "\(daemon.output)")
        let rules = try lab.exec(lab.gateway, ["iptables-save", "-t", "mangle"])
        #expect(!rules.contains("MSSCLAMP"), "\(rules)")
    }

    /// iptables-legacy's tools open a raw socket: a daemon that manages legacy rules keeps CAP_NET_RAW as
    /// well, and nothing else, so it can still remove them on exit.
    @Test func legacyIptablesAlsoKeepsNetRaw() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1300", "--queue", "0", "--install-rules"], environment: ["MSSCLAMP_IPTABLES=legacy"])
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("privileges dropped") }, "\(daemon.output)")
        let fields = Self.status(daemon.pid)
        #expect(fields["CapEff"] == "0000000000003000", "\(fields)")
        #expect(fields["CapBnd"] == "0000000000003000", "\(fields)")
        let mss = try lab.serverMSS(from: lab.client, host: Lab.serverIPv4)
        #expect(mss.maxseg + (mss.timestamps ? 12 : 0) == 1300)
        #expect(daemon.stop(signal: SIGTERM, timeout: 10) == 0, "\(daemon.output)")
        #expect(daemon.output.contains("rules removed"), "\(daemon.output)")
        #expect(!(try lab.exec(lab.gateway, ["iptables-legacy-save", "-t", "mangle"])).contains("MSSCLAMP"))
    }
}
