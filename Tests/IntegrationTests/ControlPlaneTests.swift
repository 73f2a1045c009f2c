import Foundation
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 19: who may change the packet path, and the kernel state that stays whole. Each test runs the
/// real daemon in a namespace lab, with real unprivileged users (setpriv) and the real nftables.
@Suite(
    "Control plane: least privilege, a net that stays whole, files",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct ControlPlaneTests {
    /// A directory under /tmp that nobody can enter but root and nogroup, holding a copy of the binary
    /// that nobody may run.
    final class SharedDirectory {
        let path = "/tmp/mssclamp-cp-\(UUID().uuidString)"
        let binary: String
        init() throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            chmod(path, 0o755)
            binary = "\(path)/mssclamp"
            try BuiltProducts.copyMssclamp(to: binary)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static let asNobody = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]

    /// The policy of the issue, exactly: nobody, with the daemon run as nobody, may learn host addresses
    /// inside the pool and nothing else; everyone else's SYNs keep the defaults.
    @Test(.enabled(if: Shell.has("setpriv"), "setpriv (util-linux) is not installed"))
    func theGroupLearnsInsideItsPoolAndNothingElse() throws {
        let shared = try SharedDirectory()
        let policy = "\(shared.path)/policy.toml"
        try """
            [control]
            group = "nogroup"

            [[peer]]
            name = "clients"
            learn_address = true
            learn_within = ["10.8.0.0/24", "fd00:8::/64"]
            mss = 1300

            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let socket = "\(shared.path)/control/control.sock"
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--config", policy, "--install-rules", "--user", "nobody", "--control-socket", socket])
        let binary = shared.binary

        // Full control is root's alone, never the daemon's own (dropped) uid.
        let add = try Shell.run(Self.asNobody + [binary, "peer", "add", "evil", "--match", "0.0.0.0/0", "--mss", "88", "--socket", socket])
        #expect(!add.succeeded && add.error.contains("learn-address requests only"), "\(add)")
        let reload = try Shell.run(Self.asNobody + [binary, "reload", "--socket", socket])
        #expect(!reload.succeeded && reload.error.contains("learn-address requests only"), "\(reload)")

        // A host address inside the pool is learned.
        let learn = try Shell.run(Self.asNobody + [binary, "learn-address", "clients", "add", "10.8.0.42", "c1", "--strict", "--socket", socket])
        #expect(learn.succeeded, "\(learn)")
        let learned = try eventually(timeout: 5) {
            let list = try Shell.check([binary, "peer", "list", "--socket", socket])
            return list.contains("clients/c1") && list.contains("10.8.0.42/32")
        }
        #expect(learned, "\(daemon.output)")

        // Anything wider, outside the pool, or special is refused, and said in the log.
        for address in ["0.0.0.0/0", "::/0", "192.0.2.7", "10.8.0.0/24", "127.0.0.1"] {
            let refused = try Shell.run(Self.asNobody + [binary, "learn-address", "clients", "add", address, "x", "--strict", "--socket", socket])
            #expect(!refused.succeeded, "\(address) was learned: \(refused)")
        }
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("learn-address add 192.0.2.7 for \"clients\" refused") }, "\(daemon.output)")

        // A member through a supplementary group may learn; someone outside the group may do nothing.
        let member = try Shell.run([
            "setpriv", "--reuid", "nobody", "--regid", "4242", "--groups", "nogroup", binary, "learn-address", "clients", "add",
            "10.8.0.43", "c2", "--strict", "--socket", socket,
        ])
        #expect(member.succeeded, "\(member)")
        let outsider = try Shell.run([
            "setpriv", "--reuid", "nobody", "--regid", "4242", "--clear-groups", binary, "learn-address", "clients", "add",
            "10.8.0.44", "c3", "--strict", "--socket", socket,
        ])
        #expect(!outsider.succeeded, "\(outsider)")

        // SYNs from other addresses keep the defaults: nothing learned claims them.
        #expect(try lab.handshakeMSS() == 1360)
        #expect(daemon.stop(signal: SIGTERM) == 0, "\(daemon.output)")
    }

    /// After a peer change, another tool deletes the safety net three times: it is back within 3 s each
    /// time, with the live peer in it, so SYNs the daemon does not take meet the peer's ceiling.
    @Test func theNetComesBackEveryTime() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.startServer()
        let daemon = try lab.startDaemon(["--mss", "1360", "--install-rules"])
        let add = try lab.mssclamp(["peer", "add", "near", "--match", "\(Lab.clientIPv4)/32", "--mss", "1250", "--socket", lab.controlSocket])
        #expect(add.succeeded, "\(add)")
        let verify = [BuiltProducts.mssclamp, "rules", "verify", "--mss", "1360", "--socket", lab.controlSocket]
        #expect(try eventually(timeout: 5) { try lab.run(lab.gateway, verify).succeeded }, "the net did not follow the peer")
        for round in 1...3 {
            try lab.exec(lab.gateway, ["nft", "delete", "table", "inet", "mssclamp_net"])
            let deleted = Date()
            let back = try eventually(timeout: 10) { try lab.run(lab.gateway, verify).succeeded }
            let seconds = Date().timeIntervalSince(deleted)
            print("round \(round): the net was back \(Int(seconds * 1000)) ms after `nft delete table`")
            #expect(back && seconds < 3, "round \(round): \(seconds) s\n\(daemon.output)")
        }
        // The daemon stopped: only the net clamps, with the live peer's ceiling.
        kill(daemon.pid, SIGSTOP)
        defer { kill(daemon.pid, SIGCONT) }
        usleep(3_000_000)  // the liveness switch lapses after 2 s: SYNs skip the queue
        #expect(try lab.handshakeMSS() == 1250)
        kill(daemon.pid, SIGCONT)
        #expect(daemon.stop(signal: SIGTERM) == 0, "\(daemon.output)")
    }

    /// 1,000 random peer changes from 8 clients at once, with reloads and outside deletions among them:
    /// afterwards the kernel's net is exactly the rendering of the daemon's policy, and no chain holds a
    /// rule twice.
    @Test func randomParallelChangesLeaveAnExactNet() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        let config = TemporaryFile(unusedSuffix: ".toml")
        try "[defaults]\nmss4 = 1360\n\n[[peer]]\nname = \"file\"\nmatch = \"203.0.113.0/28\"\nmss = 1234\n"
            .write(toFile: config.path, atomically: true, encoding: .utf8)
        let daemon = try lab.startDaemon(["--config", config.path, "--install-rules"])
        let socket = lab.controlSocket
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { client in
            var random = SystemRandomNumberGenerator()
            for step in 0..<125 {
                let name = "p\(Int.random(in: 0..<40, using: &random))"
                let address = "2001:db8:f::\(String(Int.random(in: 1..<200, using: &random), radix: 16))/128"
                let ceiling = String(Int.random(in: 1200...1260, using: &random))
                let command: [String]
                switch (step + client) % 10 {
                case 0: command = ["reload", "--socket", socket]
                case 1: command = ["peer", "remove", name, "--socket", socket]
                case 2:
                    _ = try? lab.run(lab.gateway, ["nft", "delete", "table", "inet", "mssclamp_net"])
                    continue
                case 3, 4: command = ["peer", "add", name, "--match", address, "--mss", ceiling, "--replace", "--socket", socket]
                default: command = ["peer", "add", name, "--match", address, "--mss", ceiling, "--socket", socket]
                }
                // Refusals (a name or prefix taken, a peer already gone) are expected; a hang or a crash is not.
                guard let result = try? Shell.run([BuiltProducts.mssclamp] + command, timeout: 60), result.status != 69 || !result.error.contains("connect") else {
                    failures.withLock { $0.append("\(command): no answer") }
                    continue
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let verify = [BuiltProducts.mssclamp, "rules", "verify", "--config", config.path, "--socket", socket]
        let exact = try eventually(timeout: 20) { try lab.run(lab.gateway, verify).succeeded }
        let last = try lab.run(lab.gateway, verify)
        #expect(exact, "the net is not the policy's: \(last.output)\n\(daemon.output.suffix(3000))")
        // No chain holds a rule twice (the element updates once left one clamp rule per add).
        let listing = try lab.exec(lab.gateway, ["nft", "list", "table", "inet", "mssclamp_net"])
        var chain = ""
        var seen = Set<String>()
        for line in listing.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("chain ") {
                chain = line
                seen.removeAll()
            } else if !chain.isEmpty, !line.isEmpty, line != "}" {
                #expect(seen.insert(line).inserted, "\(chain) holds twice: \(line)")
            }
        }
        #expect(daemon.isRunning, "\(daemon.output)")
        #expect(daemon.stop(signal: SIGTERM) == 0)
    }
}
