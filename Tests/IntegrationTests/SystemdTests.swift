import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// mssclamp.service under a real systemd, booted as PID 1 in namespaces of its own
/// (scripts/systemd-sandbox): installed by scripts/install, reloaded, its worker thread stuck until
/// the watchdog restarts it, joined by a second instance from the template unit, and stopped for good with
/// no rule left behind.
@Suite(
    "The unit under a real systemd",
    .enabled(if: IntegrationEnvironment.available && Shell.has("unshare") && Shell.has("nsenter"), Comment(rawValue: IntegrationEnvironment.skipReason ?? "needs unshare and nsenter (util-linux)")))
struct SystemdTests {
    final class Sandbox: @unchecked Sendable {
        let name = UniqueName.make("sd")
        let script = Repository.script("systemd-sandbox")

        init() throws {
            let start = try Shell.run([script, "start", name], timeout: 60)
            guard start.succeeded else { throw CommandFailed(command: [script, "start", name], result: start) }
        }

        @discardableResult
        func run(_ arguments: [String], timeout: TimeInterval = 60) throws -> CommandResult {
            try Shell.run([script, "exec", name] + arguments, timeout: timeout)
        }

        func show(_ property: String) throws -> String {
            try run(["systemctl", "show", "-p", property, "--value", "mssclamp"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        deinit {
            _ = try? Shell.run([script, "stop", name], timeout: 30)
            unlink("/tmp/mssclamp-sandbox-\(name).log")
        }
    }

    @Test func installReloadWatchdogRestartAndStop() throws {
        let sandbox = try Sandbox()
        let install = try sandbox.run(["scripts/install", "--binary", BuiltProducts.mssclamp], timeout: 120)
        #expect(install.status == 0, "\(install.output)\(install.error)")
        #expect(try sandbox.run(["systemctl", "is-active", "mssclamp"]).output.hasPrefix("active"))
        // Type=notify: systemd shows the daemon's own status line.
        #expect(try sandbox.show("StatusText").contains("clamping on queue 0"))
        let rules = try sandbox.run(["iptables-save", "-t", "mangle"]).output
        #expect(rules.contains("-j NFQUEUE"), "\(rules)")

        // Reload: a peer appended to the file is in force after `systemctl reload`.
        try sandbox.run(["sh", "-c", "printf '\\n[[peer]]\\nname = \"reloaded\"\\nmatch = [\"192.0.2.0/24\"]\\nmss = 1234\\n' >> /etc/mssclamp/mssclamp.toml"])
        let reload = try sandbox.run(["systemctl", "reload", "mssclamp"])
        #expect(reload.status == 0, "\(reload.error)")
        // ExecReload sends SIGHUP: `systemctl reload` returns before the daemon has reread the file.
        var peers = CommandResult(status: -1, output: "", error: "")
        let reloaded = try eventually(timeout: 10) {
            peers = try sandbox.run(["mssclamp", "peer", "list"])
            return peers.output.contains("reloaded")
        }
        #expect(reloaded, "\(peers.output) \(peers.error)")

        // The queue's worker thread stuck, the rest of the process running on (ptrace stops that one
        // thread): the main loop must withhold the watchdog ping, so systemd aborts and restarts the
        // daemon. (SIGSTOP would stop the main loop too, and never test that gate.)
        let stopped = try sandbox.show("MainPID")
        let restartsBefore = Int(try sandbox.show("NRestarts")) ?? -1
        try sandbox.run([
            "sh", "-c", "python3 \(Repository.script("labtool")) freeze-thread \(stopped) mssclamp-q0 30 >/run/freeze.log 2>&1 &",
        ])
        let frozen = try eventually(timeout: 10) { try sandbox.run(["cat", "/run/freeze.log"]).output.contains("frozen") }
        #expect(frozen, "\((try? sandbox.run(["cat", "/run/freeze.log"]).output) ?? "")")
        // Only the worker is stopped: the main thread is not (T would be a stopped process).
        let state = try sandbox.run(["sh", "-c", "grep ^State: /proc/\(stopped)/status"]).output
        #expect(!state.contains("T (stopped)") && !state.isEmpty, "\(state)")
        let restarted = try eventually(timeout: 40) {
            let pid = try sandbox.show("MainPID")
            let active = try sandbox.run(["systemctl", "is-active", "mssclamp"]).output.hasPrefix("active")
            return active && pid != stopped && pid != "0"
        }
        let journal = try sandbox.run(["journalctl", "-u", "mssclamp", "--no-pager", "-n", "30"]).output
        #expect(restarted, "the watchdog did not restart the daemon with a stuck worker: \(journal)")
        // systemd aborted the daemon for its watchdog (nothing else restarts it here).
        let watchdog = try sandbox.run(["sh", "-c", "journalctl -u mssclamp --no-pager | grep -i watchdog"]).output
        #expect(watchdog.contains("Watchdog timeout"), "\(journal)")
        #expect((Int(try sandbox.show("NRestarts")) ?? -1) > restartsBefore)
        #expect(try sandbox.run(["mssclamp", "stats"]).status == 0)

        // A second instance from the template, on queue 1: both run; stopping it leaves instance 0 (and
        // its control socket in the shared runtime directory) untouched.
        try sandbox.run(["sh", "-c", "printf '[queue]\\nnum = 1\\ninterfaces = [\"wg-second\"]\\n[defaults]\\nmss4 = 1300\\n' > /etc/mssclamp/second.toml"])
        let second = try sandbox.run(["systemctl", "start", "mssclamp@second"])
        let secondJournal = try sandbox.run(["journalctl", "-u", "mssclamp@second", "--no-pager", "-n", "30"]).output
        #expect(second.status == 0, "\(second.error) \(secondJournal)")
        #expect(try sandbox.run(["iptables-save", "-t", "mangle"]).output.contains(":MSSCLAMP-second "))
        #expect(try sandbox.run(["mssclamp", "stats", "--instance", "second"]).status == 0)
        #expect(try sandbox.run(["systemctl", "stop", "mssclamp@second"]).status == 0)
        let afterSecond = try sandbox.run(["iptables-save", "-t", "mangle"]).output
        #expect(!afterSecond.contains("MSSCLAMP-second") && afterSecond.contains(":MSSCLAMP "), "\(afterSecond)")
        #expect(try sandbox.run(["mssclamp", "stats"]).status == 0, "instance 0 lost its control socket")
        #expect(try sandbox.run(["mssclamp", "rules", "remove", "--instance", "second"]).status == 0)

        // Stop: the daemon removes its NFQUEUE rules (and ExecStopPost would if it could not); the kernel
        // safety net stays, and `rules remove` takes it out.
        #expect(try sandbox.run(["systemctl", "stop", "mssclamp"]).status == 0)
        let after = try sandbox.run(["sh", "-c", "iptables-save; ip6tables-save"]).output
        #expect(!after.contains("MSSCLAMP") && !after.contains("NFQUEUE"), "rules left behind: \(after)")
        #expect(try sandbox.run(["systemctl", "is-active", "mssclamp"]).output.hasPrefix("inactive"))
        #expect(try sandbox.run(["nft", "list", "table", "inet", "mssclamp_net"]).status == 0, "the net went with the daemon")
        #expect(try sandbox.run(["mssclamp", "rules", "remove"]).status == 0)
        #expect(try sandbox.run(["nft", "list", "ruleset"]).output.contains("mssclamp") == false)
    }
}
