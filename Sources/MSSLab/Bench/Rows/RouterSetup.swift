import Foundation
import MSSProcess
import MSSSystem
import Synchronization

/// Puts a row's rules (and daemon) in the router namespace, and takes them out again.
struct RouterSetup {
    let lab: BenchLab
    /// This very program, run as `mssclamp run` and `mssclamp rules` inside the router.
    let executable: String
    let ceiling: Int
    let queues: Int
    /// Where the daemons' output goes (a private directory of this run).
    let workDirectory: String

    /// What is running for a row.
    final class Installed {
        let row: BenchRow
        let daemon: BackgroundChild?
        let log: String?

        init(row: BenchRow, daemon: BackgroundChild?, log: String?) {
            self.row = row
            self.daemon = daemon
            self.log = log
        }

        /// The daemon's log lines that say it shed load to the safety net.
        var sheddingLines: [String] {
            guard let log, let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
            return text.split(separator: "\n").filter { $0.contains("overload") }.map(String.init)
        }
    }

    private var tcpmssRule: [String] {
        [
            "-p", "tcp", "-m", "tcp", "--tcp-flags", "SYN,RST", "SYN", "-m", "tcpmss", "--mss", "\(ceiling + 1):65535",
            "-j", "TCPMSS", "--set-mss", "\(ceiling)",
        ]
    }

    func install(_ row: BenchRow, sequence: Int) throws(LabFailure) -> Installed {
        switch row {
        case .noRule:
            return Installed(row: row, daemon: nil, log: nil)
        case .kernelTCPMSS, .floodKernel:
            try Tool.run(Tool.inside(lab.router, ["iptables", "-t", "mangle", "-A", "FORWARD"] + tcpmssRule))
            return Installed(row: row, daemon: nil, log: nil)
        case .safetyNet:
            try Tool.run(Tool.inside(lab.router, [executable, "rules", "apply", "--backend", "nft-map", "--mss", "\(ceiling)"]))
            return Installed(row: row, daemon: nil, log: nil)
        case .runOneQueue, .runQueues, .floodRun, .runOneQueueNoDetect, .floodRunNoDetect:
            var arguments = [executable, "run", "--mss", "\(ceiling)", "--install-rules", "--control-socket", "none"]
            if row == .runQueues { arguments += ["--queue", "0-\(queues - 1)"] }
            // The queue rows measure the queue itself: no shedding to the net (the flood row has it).
            if !row.isFlood { arguments += ["--queue-rate", "0"] }
            if row.withoutWatch { arguments.append("--no-detect") }
            let log = workDirectory + "/daemon-\(sequence).log"
            let daemon = try Self.start(Tool.inside(lab.router, arguments), log: log, awayFromGenerator: !row.isFlood)
            let installed = Installed(row: row, daemon: daemon, log: log)
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                if let text = try? String(contentsOfFile: log, encoding: .utf8), text.contains("clamping on queue") {
                    Thread.sleep(forTimeInterval: 0.3)
                    return installed
                }
                if let status = daemon.exitStatus {
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    throw LabFailure(.failed, "mssclamp run exited \(status) before clamping:\n\(text)")
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            remove(installed)
            throw LabFailure(.failed, "mssclamp run did not start clamping within 30 s")
        }
    }

    /// Starts the daemon. Under a single-thread generator (every row but the floods) it runs on the CPUs
    /// other than the generator's CPU 0, as the C consumer of `scripts/bench queue` does: on a real
    /// gateway the SYNs come from outside, not from a program competing with the daemon for its CPU. A
    /// child inherits the affinity of the thread that starts it, so a short-lived thread of that affinity
    /// starts it.
    static func start(_ arguments: [String], log: String, awayFromGenerator: Bool) throws(LabFailure) -> BackgroundChild {
        let others = Array(1..<ThreadAffinity.onlineCPUs)
        guard awayFromGenerator, !others.isEmpty else {
            do {
                return try BackgroundChild(arguments, outputPath: log)
            } catch {
                throw LabFailure(.failed, "mssclamp run: \(error)")
            }
        }
        let result = Mutex<Result<BackgroundChild, LabFailure>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            ThreadAffinity.allow(cpus: others)
            do {
                let child = try BackgroundChild(arguments, outputPath: log)
                result.withLock { $0 = .success(child) }
            } catch {
                result.withLock { $0 = .failure(LabFailure(.failed, "mssclamp run: \(error)")) }
            }
            done.signal()
        }.start()
        done.wait()
        return try result.withLock { $0! }.get()
    }

    /// Stops the row's daemon (SIGTERM, then SIGKILL after 30 s) and removes every rule of the row.
    func remove(_ installed: Installed) {
        if let daemon = installed.daemon {
            daemon.signal(SIGTERM)
            if daemon.wait(seconds: 30) == nil {
                daemon.signalGroup(SIGKILL)
                _ = daemon.wait(seconds: 5)
            }
        }
        switch installed.row {
        case .noRule: break
        case .kernelTCPMSS, .floodKernel:
            Tool.attempt(Tool.inside(lab.router, ["iptables", "-t", "mangle", "-F", "FORWARD"]))
        case .safetyNet:
            Tool.attempt(Tool.inside(lab.router, [executable, "rules", "remove", "--backend", "nft-map"]))
        case .runOneQueue, .runQueues, .floodRun, .runOneQueueNoDetect, .floodRunNoDetect:
            // The daemon leaves its net (and its emptied sampler) behind when it stops, by design.
            Tool.attempt(Tool.inside(lab.router, [executable, "rules", "remove", "--all-instances"]))
        }
    }
}
