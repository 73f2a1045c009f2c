import ArgumentParser
import Foundation
import MSSLab
import MSSSystem

extension MSSClamp {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure this machine: SYNs per second through a router with and without mssclamp, and the handshake latency it adds.",
            discussion: """
                Builds three throwaway network namespaces (generator, router, sink; names msbench-PID-*) joined \
                by veth pairs, never touching this machine's own interfaces or rules, and sends SYNs at full \
                rate from its own AF_PACKET generator. Interleaved over --runs passes, each row --seconds long: \
                forwarding with no rule; the kernel's TCPMSS; mssclamp's kernel safety net alone; `mssclamp run` \
                as --install-rules installs it, on 1 queue and on --queues queues with shedding off (--queue-rate 0: \
                every SYN crosses the queue); a flood from every CPU, \
                TCPMSS against mssclamp shedding to its net; then real TCP handshakes through the router, p50 \
                and p99. Prints SYN/s, clamped, unclamped, dropped and the ratio to TCPMSS. The defaults \
                finish in under a minute. Needs root. Everything is removed at the end, on Ctrl-C too; after \
                a SIGKILL, `mssclamp bench --cleanup` removes what is left. Exit 0, 69 without root or \
                namespaces, 70 when a step failed, 130 on Ctrl-C.
                """)

        @Option(help: "Seconds counted per row and pass (after a short warm-up).")
        var seconds: Double = 2

        @Option(help: "Passes over every row, in rotated order.")
        var runs: Int = 2

        @Option(help: "Queues of the multi-queue row (default: the CPU count, at least 2).")
        var queues: Int?

        @Option(help: "Handshakes timed per latency row and pass (at least 4 passes; 0: no latency rows).")
        var connects: Int = 200

        @Option(help: "Pace the generator at this many SYN/s in all instead of full rate (to compare with another generator's load).")
        var rate: Double?

        @Option(help: "The MSS ceiling every row clamps to.")
        var mss: Int = 1360

        @Option(
            help: """
                Only these rows, comma-separated: no-rule, kernel-tcpmss, safety-net, run-1-queue, run-n-queues, \
                flood-kernel-tcpmss, flood-run, run-1-queue-no-detect, flood-run-no-detect, and latency for the \
                handshakes (default: all but the two --no-detect rows, and the handshakes).
                """,
            transform: { text in
                try text.split(separator: ",").map { name in
                    guard name == "latency" || BenchRow(rawValue: String(name)) != nil else {
                        throw ValidationError("no row named \(name)")
                    }
                    return String(name)
                }
            })
        var rows: [String]?

        @Flag(help: "Print the results as JSON on standard output (progress stays on standard error).")
        var json = false

        @Option(help: "Also draw the results as an SVG chart into this file.")
        var svg: String?

        @Flag(help: "Remove what a killed bench left behind (its namespaces, the processes in them, its work directories), then exit. A bench that still runs keeps its lab.")
        var cleanup = false

        func validate() throws {
            guard seconds >= 0.2, seconds <= 600 else { throw ValidationError("--seconds must be 0.2-600") }
            guard (1...100).contains(runs) else { throw ValidationError("--runs must be 1-100") }
            if let queues, !(2...64).contains(queues) { throw ValidationError("--queues must be 2-64") }
            guard (0...100_000).contains(connects) else { throw ValidationError("--connects must be 0-100000") }
            guard (536...9000).contains(mss) else { throw ValidationError("--mss must be 536-9000") }
            if let rate, !(1000...100_000_000).contains(rate) { throw ValidationError("--rate must be 1000-100000000 SYN/s") }
        }

        func run() throws {
            if cleanup {
                guard geteuid() == 0 else { throw fail("mssclamp bench --cleanup removes namespaces: run it as root", code: 69) }
                let done = MSSLab.Bench.cleanUp()
                for line in done.removed { print("removed \(line)") }
                for pid in done.running { print("left alone: bench \(pid) still runs, and removes its own lab") }
                if done.removed.isEmpty && done.running.isEmpty { print("nothing to clean up") }
                return
            }
            ProcessSignals.noteInterrupts()
            var options = MSSLab.Bench.Options(executable: Self.executable, version: MSSClampVersion.number)
            options.seconds = seconds
            options.runs = runs
            if let queues { options.queues = queues }
            options.connects = connects
            options.ceiling = mss
            if let rows {
                options.rows = rows.compactMap(BenchRow.init(rawValue:))
                options.latency = rows.contains("latency")
            }
            options.rate = rate
            var stderr = StandardError()
            let report: BenchReport
            do {
                report = try MSSLab.Bench.run(options) { print("mssclamp bench: \($0)", to: &stderr) }
            } catch {
                switch error.kind {
                case .unavailable: throw fail(error.message, code: 69)
                case .failed: throw fail(error.message, code: 70)
                case .interrupted(let signal):
                    print("mssclamp bench: interrupted; the lab is removed", to: &stderr)
                    throw ExitCode(128 + signal)
                }
            }
            if let svg {
                do {
                    try AtomicFile.write(Array(report.svg.utf8), to: svg, mode: 0o644)
                } catch {
                    throw fail("cannot write the chart: \(error)", code: 73)
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.table)
            }
        }

        /// This program, as the kernel started it (the daemon rows run it inside the router namespace).
        static var executable: String {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        }
    }
}
