import Foundation
import MSSProcess
import MSSSystem

/// `mssclamp bench`: the operator's own machine, measured. Builds a throwaway lab (`BenchLab`), runs every
/// row interleaved over `runs` passes (`RowMeasurement`), times real handshakes (`HandshakeTimer`), and
/// tears everything down however it ends. See docs/benchmarks.md, "mssclamp bench".
public enum Bench {
    public struct Options: Sendable {
        /// Counted seconds per row and pass (a warm-up comes first).
        public var seconds: Double = 2
        /// Passes over every row; each pass rotates the order, so no row always goes first.
        public var runs: Int = 2
        /// Queues of the multi-queue row.
        public var queues: Int = max(2, ThreadAffinity.onlineCPUs)
        /// Handshakes timed per latency row and pass.
        public var connects: Int = 200
        /// The ceiling every row clamps to (IPv4).
        public var ceiling: Int = 1360
        /// This program, run inside the router as `mssclamp run` and `mssclamp rules`.
        public var executable: String
        public var version: String
        /// SYNs per second the generator offers, in all; nil: as fast as it goes (the default). For
        /// comparing with another generator's load.
        public var rate: Double?
        /// Rows to run: `BenchRow.defaults` when nil; none (only the handshakes, if `latency`) when empty.
        public var rows: [BenchRow]?
        /// Whether to time handshakes (when `connects` is above 0 too).
        public var latency = true

        public init(executable: String, version: String) {
            self.executable = executable
            self.version = version
        }
    }

    /// Passes over the latency rows, at least.
    static let latencyPasses = 4

    /// The rows whose handshakes are timed.
    static let latencyRows: [BenchRow] = [.noRule, .kernelTCPMSS, .runOneQueue]

    /// Refuses what cannot work before anything is built: not root, no `ip`, no iptables.
    public static func checkEnvironment() throws(LabFailure) {
        guard geteuid() == 0 else {
            throw LabFailure(.unavailable, "mssclamp bench builds network namespaces and firewall rules: run it as root")
        }
        for tool in ["ip", "iptables", "nft"] where ChildProcess.locate(tool) == nil {
            throw LabFailure(.unavailable, "mssclamp bench needs \(tool), which is not installed")
        }
        guard access("/proc/self/ns/net", R_OK) == 0 else {
            throw LabFailure(.unavailable, "this kernel has no network namespaces (/proc/self/ns/net)")
        }
    }

    /// Runs every row and the latency rows; tears the lab down whatever happens.
    /// - Parameter progress: a line per step, for a person watching.
    public static func run(_ options: Options, progress: (String) -> Void) throws(LabFailure) -> BenchReport {
        try checkEnvironment()
        let started = Date()
        let stop = { ProcessSignals.interrupted != nil }
        let lab = BenchLab(tag: String(getpid()))
        guard let work = makeWorkDirectory() else {
            throw LabFailure(.failed, "cannot create a private directory under /run: \(String(cString: strerror(errno)))")
        }
        defer {
            lab.tearDown()
            if !removeWorkDirectory(work) { progress("could not remove \(work); `mssclamp bench --cleanup` will") }
        }
        progress("building the lab: namespaces \(lab.generator), \(lab.router), \(lab.sink)")
        do {
            try lab.build(ceiling: options.ceiling)
        } catch {
            throw LabFailure(.unavailable, "could not build the lab (network namespaces and veth): \(error.message)")
        }
        let setup = RouterSetup(
            lab: lab, executable: options.executable, ceiling: options.ceiling, queues: options.queues, workDirectory: work)
        let rows = options.rows ?? BenchRow.defaults
        var passes: [BenchRow: [RowMeasurement]] = [:]
        var sequence = 0
        let total = rows.count * options.runs
        for run in 0..<(rows.isEmpty ? 0 : options.runs) {
            let order = Array(rows[(run % rows.count)...] + rows[..<(run % rows.count)])
            for row in order {
                if stop() { throw interrupted() }
                sequence += 1
                let measurement = try RowMeasurement.measure(
                    row, setup: setup, seconds: options.seconds, rate: options.rate, sequence: sequence, stop: stop)
                passes[row, default: []].append(measurement)
                var line = "[\(sequence)/\(total)] \(row.title(queues: options.queues)): "
                line += row.clamps
                    ? "\(thousands(measurement.clampedPerSecond)) clamped/s, \(measurement.unclamped) unclamped"
                    : "\(thousands(measurement.deliveredPerSecond)) SYN/s"
                line += ", \(thousands(Double(measurement.dropped))) dropped"
                progress(line)
            }
        }
        var latency: [BenchReport.Latency] = []
        if options.connects > 0, options.latency {
            latency = try timeHandshakes(options: options, setup: setup, stop: stop, progress: progress)
        }
        var report = BenchReport(
            version: options.version, host: .init(cpus: ThreadAffinity.onlineCPUs, kernel: kernelRelease()),
            ceiling: options.ceiling, seconds: options.seconds, runs: options.runs, queues: options.queues,
            namespaces: lab.namespaces, rate: options.rate, rows: [],
            latency: latency, watchCost: [], elapsed: 0)
        let medians = passes.mapValues { median($0.map(\.clampedPerSecond)) }
        for row in rows {
            let measured = passes[row] ?? []
            let clamped = medians[row] ?? 0
            report.rows.append(
                BenchReport.Row(
                    row: row, title: row.title(queues: options.queues),
                    generatorThreads: row.isFlood ? ThreadAffinity.onlineCPUs : 1,
                    synPerSecond: median(measured.map(\.deliveredPerSecond)), clampedPerSecond: clamped,
                    sent: measured.map(\.sent).reduce(0, +), unclamped: measured.map(\.unclamped).reduce(0, +),
                    dropped: measured.map(\.dropped).reduce(0, +), queueDrops: measured.map(\.queueDrops).reduce(0, +),
                    netClamped: measured.map(\.netClamped).reduce(0, +),
                    ratio: row.baseline.flatMap { medians[$0] }.flatMap { $0 > 0 ? clamped / $0 : nil },
                    baseline: row.baseline, shedding: Array(measured.flatMap(\.shedding).prefix(5)), passes: measured))
        }
        for row in rows {
            guard let without = row.withoutDetection, let on = medians[row], let off = medians[without], off > 0 else { continue }
            report.watchCost.append(.init(row: row, without: without, ratio: on / off))
        }
        report.elapsed = Date().timeIntervalSince(started)
        return report
    }

    /// The latency rows, interleaved over the runs.
    static func timeHandshakes(
        options: Options, setup: RouterSetup, stop: () -> Bool, progress: (String) -> Void
    ) throws(LabFailure) -> [BenchReport.Latency] {
        let timer = try HandshakeTimer(lab: setup.lab)
        defer { timer.stop() }
        var samples: [BenchRow: [Double]] = [:]
        var failures: [BenchRow: Int] = [:]
        // More passes than the throughput rows, each shorter: a handshake's time drifts with whatever else
        // the machine does, and alternating the rows often spreads that drift over all of them.
        let passes = max(options.runs, latencyPasses)
        for run in 0..<passes {
            let rows = latencyRows
            for row in rows[(run % rows.count)...] + rows[..<(run % rows.count)] {
                if stop() { throw interrupted() }
                let installed = try setup.install(row, sequence: 1000 + run * 10 + (rows.firstIndex(of: row) ?? 0))
                let timed: (microseconds: [Double], failed: Int)
                do {
                    timed = try timer.time(count: options.connects, stop: stop)
                } catch {
                    setup.remove(installed)
                    throw error
                }
                setup.remove(installed)
                samples[row, default: []] += timed.microseconds
                failures[row, default: 0] += timed.failed
                progress(
                    "latency \(run + 1)/\(passes) \(row.title(queues: options.queues)): p50 "
                        + "\(format(percentile(timed.microseconds, 50))) us, p99 \(format(percentile(timed.microseconds, 99))) us")
            }
        }
        if stop() { throw interrupted() }
        let plain = samples[.noRule] ?? []
        return latencyRows.map { row in
            let values = samples[row] ?? []
            return BenchReport.Latency(
                row: row, title: row.title(queues: options.queues), count: values.count, failed: failures[row] ?? 0,
                p50Microseconds: percentile(values, 50), p99Microseconds: percentile(values, 99),
                addedP50Microseconds: percentile(values, 50) - percentile(plain, 50),
                addedP99Microseconds: percentile(values, 99) - percentile(plain, 99))
        }
    }

    /// What `cleanUp` did: what it removed, a line each, and the benches it left alone because they still run.
    public struct Cleanup: Sendable {
        public var removed: [String] = []
        public var running: [Int32] = []
    }

    /// Removes what killed runs left: their namespaces (and every process inside) and work directories.
    /// A bench that still runs (its PID, in the names, is a live `mssclamp bench`) keeps its lab: it
    /// tears it down itself, and taking it away would only make it fail.
    public static func cleanUp() -> Cleanup {
        var cleanup = Cleanup()
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: "/run")) ?? []).filter { $0.hasPrefix(workPrefix) }
        for name in Namespaces.list(prefix: BenchLab.prefix) + entries {
            if let owner = runningOwner(of: name) {
                if !cleanup.running.contains(owner) { cleanup.running.append(owner) }
            } else if entries.contains(name) {
                try? FileManager.default.removeItem(atPath: "/run/" + name)
                cleanup.removed.append("directory /run/\(name)")
            } else {
                Namespaces.remove(name)
                cleanup.removed.append("namespace \(name)")
            }
        }
        return cleanup
    }

    /// The PID in a name `msbench-PID-...`, if that process is a bench that still runs (not this one). A
    /// bench runs as root: another user's process that took a killed bench's PID and calls itself
    /// `mssclamp bench` cannot keep its lab from being cleaned up.
    static func runningOwner(of name: String) -> Int32? {
        let parts = name.split(separator: "-")
        var owner = stat()
        guard parts.count >= 3, let pid = Int32(parts[1]), pid > 0, pid != getpid(),
            stat("/proc/\(pid)", &owner) == 0, owner.st_uid == 0,
            let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { return nil }
        let arguments = command.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard arguments.count >= 2, arguments[0].hasSuffix("mssclamp"), arguments[1] == "bench" else { return nil }
        return pid
    }

    static let workPrefix = "msbench-"

    /// Removes the work directory, trying again if something was still finishing in it.
    /// - Returns: whether it is gone.
    static func removeWorkDirectory(_ path: String) -> Bool {
        for attempt in 0..<3 {
            if attempt > 0 { Thread.sleep(forTimeInterval: 0.2) }
            try? FileManager.default.removeItem(atPath: path)
            if access(path, F_OK) != 0 { return true }
        }
        return false
    }

    /// A directory only root can enter, for the daemons' logs: /run/msbench-PID-XXXXXX (whose it is, for
    /// `cleanUp` and the tests).
    static func makeWorkDirectory() -> String? {
        var template = Array("/run/\(workPrefix)\(getpid())-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { return nil }
        return String(cString: made)
    }

    static func interrupted() -> LabFailure {
        LabFailure(.interrupted(ProcessSignals.interrupted ?? SIGINT), "interrupted")
    }

    static func kernelRelease() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.release) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}
