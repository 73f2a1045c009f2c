import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `mssclamp bench` (issue 24): every row measured in its own throwaway lab, and nothing left behind after
/// a normal end, a Ctrl-C, or a SIGKILL followed by `--cleanup`. The figures themselves are benchmarks
/// (docs/benchmarks.md); these tests only ask that each row measured something, clamped every SYN, and
/// that the lab goes away. Serialized: two floods at once would only measure each other.
@Suite(
    "mssclamp bench, the command",
    .serialized,
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct BenchCommandTests {
    /// Every row: the defaults, then the two --no-detect rows of scripts/bench queue and flood.
    static let rows = [
        "no-rule", "kernel-tcpmss", "safety-net", "run-1-queue", "run-n-queues", "flood-kernel-tcpmss", "flood-run",
        "run-1-queue-no-detect", "flood-run-no-detect",
    ]

    /// What a bench with pid `pid` has in the kernel and the file system: its namespaces, the processes
    /// in them, and its work directories (only its own: another run's leftovers are not this bench's).
    static func traces(of pid: Int32) throws -> (namespaces: [String], processes: [String], directories: [String]) {
        let namespaces = try Shell.check(["ip", "netns", "list"]).split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix("msbench-\(pid)-") }
        var processes: [String] = []
        for name in namespaces {
            processes += try Shell.check(["ip", "netns", "pids", name]).split(separator: "\n").map(String.init)
        }
        let directories = try FileManager.default.contentsOfDirectory(atPath: "/run").filter { $0.hasPrefix("msbench-\(pid)-") }
        return (namespaces, processes, directories)
    }

    @Test func aShortRunMeasuresEveryRowAndLeavesNothing() throws {
        let chart = TemporaryFile(unusedSuffix: ".svg")
        let run = try Shell.run(
            [
                BuiltProducts.mssclamp, "bench", "--rows", (Self.rows + ["latency"]).joined(separator: ","), "--seconds", "0.3",
                "--runs", "1", "--connects", "50", "--json", "--svg", chart.path,
            ],
            timeout: 300)
        #expect(run.succeeded, "\(run)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any], "\(run.output)")
        let rows = try #require(report["rows"] as? [[String: Any]])
        #expect(rows.compactMap { $0["row"] as? String } == Self.rows, "\(rows)")
        for row in rows {
            let name = row["row"] as? String ?? "?"
            #expect((row["synPerSecond"] as? Double ?? 0) > 0, "\(name) moved no SYN: \(row)")
            if name != "no-rule" {
                #expect((row["clampedPerSecond"] as? Double ?? 0) > 0, "\(name) clamped nothing: \(row)")
                #expect(row["unclamped"] as? Int == 0, "\(name) let SYNs through unclamped: \(row)")
            }
        }
        // Each --no-detect row beside its row with the watch: the watch's cost, as a ratio.
        let costs = try #require(report["watchCost"] as? [[String: Any]])
        #expect(costs.compactMap { $0["without"] as? String } == ["run-1-queue-no-detect", "flood-run-no-detect"], "\(costs)")
        let latency = try #require(report["latency"] as? [[String: Any]])
        #expect(latency.count == 3 && latency.allSatisfy { ($0["count"] as? Int ?? 0) > 0 }, "\(latency)")
        let svg = try String(contentsOfFile: chart.path, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("flood: mssclamp run"), "\(svg)")
        print(run.error)
        let lab = try #require(report["namespaces"] as? [String])
        let pid = try #require(lab.first.flatMap { Int32($0.split(separator: "-")[1]) }, "\(lab)")
        let left = try Self.traces(of: pid)
        #expect(lab.count == 3 && left.namespaces.isEmpty && left.directories.isEmpty, "left behind: \(left)")
    }

    /// Starts a bench that runs a daemon row long enough to be interrupted, and waits until the daemon
    /// runs in its router.
    static func startLongBench(row: String) throws -> (bench: BackgroundProcess, daemon: [String]) {
        let bench = try BackgroundProcess([
            BuiltProducts.mssclamp, "bench", "--rows", row, "--seconds", "60", "--runs", "1", "--connects", "0",
        ])
        var daemon: [String] = []
        // The daemon, not one of the tools that build the lab (they come and go in the same namespaces).
        let running = try eventually(timeout: 60) {
            daemon = try traces(of: bench.pid).processes.filter { pid in
                let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                return command.contains("--install-rules")
            }
            return !daemon.isEmpty
        }
        #expect(running, "the bench's daemon did not start: \(bench.output)")
        // The --no-detect rows run the daemon without the black-hole watch, the others with it.
        for pid in daemon {
            let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            #expect(command.contains("--no-detect") == row.hasSuffix("-no-detect"), "\(row): \(command)")
        }
        return (bench, daemon)
    }

    @Test func ctrlCRemovesTheLabAndItsDaemon() throws {
        let (bench, daemon) = try Self.startLongBench(row: "run-1-queue-no-detect")
        // --cleanup is for what killed runs left: a bench that still runs keeps its lab.
        let cleanup = try Shell.run([BuiltProducts.mssclamp, "bench", "--cleanup"], timeout: 60)
        #expect(cleanup.succeeded && cleanup.output.contains("left alone: bench \(bench.pid) still runs"), "\(cleanup)")
        let kept = try Self.traces(of: bench.pid)
        #expect(kept.namespaces.count == 3 && kept.directories.count == 1 && !kept.processes.isEmpty, "\(kept)")
        bench.child.signal(SIGINT)
        let status = bench.child.wait(seconds: 60)
        #expect(status == 130, "exit \(String(describing: status)): \(bench.output)")
        #expect(bench.output.contains("interrupted; the lab is removed"), "\(bench.output)")
        let left = try Self.traces(of: bench.pid)
        #expect(left.namespaces.isEmpty && left.directories.isEmpty, "left behind: \(left)")
        for pid in daemon.compactMap({ Int32($0) }) {
            #expect(kill(pid, 0) != 0, "the daemon \(pid) outlived the bench")
        }
    }

    @Test func aKilledBenchIsCleanedUpByCleanup() throws {
        let (bench, daemon) = try Self.startLongBench(row: "run-1-queue")
        bench.child.signal(SIGKILL)
        _ = bench.child.wait(seconds: 10)
        // A SIGKILL leaves the lab: this is what --cleanup is for.
        let before = try Self.traces(of: bench.pid)
        #expect(before.namespaces.count == 3 && !before.processes.isEmpty, "\(before)")
        let cleanup = try Shell.run([BuiltProducts.mssclamp, "bench", "--cleanup"], timeout: 60)
        #expect(cleanup.succeeded && cleanup.output.contains("removed namespace msbench-\(bench.pid)-router"), "\(cleanup)")
        let left = try Self.traces(of: bench.pid)
        #expect(left.namespaces.isEmpty && left.directories.isEmpty, "left behind: \(left)")
        let alive = try eventually(timeout: 10) { daemon.compactMap { Int32($0) }.allSatisfy { kill($0, 0) != 0 } }
        #expect(alive, "the daemon outlived --cleanup: \(daemon)")
        let again = try Shell.run([BuiltProducts.mssclamp, "bench", "--cleanup"], timeout: 60)
        #expect(again.succeeded && again.output.contains("nothing to clean up"), "\(again)")
    }

    /// Another user's process that took a killed bench's PID and calls itself `mssclamp bench` (here `cat`,
    /// started as `mssclamp`, blocked on a FIFO named `bench`) must not keep that lab from `--cleanup`.
    @Test(.enabled(if: Shell.has("setpriv"), "setpriv (util-linux) is not installed"))
    func anImpostorOfAnotherUserKeepsNoLab() throws {
        let directory = try ReadableDirectory.make(prefix: "mssclamp-impostor")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(mkfifo("\(directory)/bench", 0o644) == 0)
        let impostor = try BackgroundProcess([
            "setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "bash", "-c",
            "cd \(directory) && exec -a mssclamp cat bench",
        ])
        defer { _ = impostor.stop(signal: SIGKILL) }
        let named = try eventually(timeout: 10) {
            let command = (try? String(contentsOfFile: "/proc/\(impostor.pid)/cmdline", encoding: .utf8)) ?? ""
            return command == "mssclamp\0bench\0"
        }
        #expect(named, "the impostor did not start")
        let namespace = "msbench-\(impostor.pid)-router"
        _ = try Shell.check(["ip", "netns", "add", namespace])
        defer { _ = try? Shell.run(["ip", "netns", "del", namespace]) }
        let cleanup = try Shell.run([BuiltProducts.mssclamp, "bench", "--cleanup"], timeout: 60)
        #expect(cleanup.succeeded && cleanup.output.contains("removed namespace \(namespace)"), "\(cleanup)")
        #expect(try Self.traces(of: impostor.pid).namespaces.isEmpty)
    }

    @Test(.enabled(if: Shell.has("setpriv"), "setpriv (util-linux) is not installed"))
    func withoutRootItRefusesAndSaysWhy() throws {
        let directory = try ReadableDirectory.make(prefix: "mssclamp-bench")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try BuiltProducts.copyMssclamp(to: "\(directory)/mssclamp")
        let run = try Shell.run(
            ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "\(directory)/mssclamp", "bench"])
        #expect(run.status == 69 && run.error.contains("run it as root"), "\(run)")
    }
}
