import ArgumentParser
import Logging
import MSSDaemon
import MSSPolicy
import MSSQueue
import MSSRules

/// Options shared by `run` and `rules`: where packets are queued and which hooks jump to the chain.
struct QueueOptions: ParsableArguments {
    @Option(help: "NFQUEUE number, or a range N-M for one worker per queue (rules use --queue-balance).")
    var queue: String = "0"

    @Option(help: "Hooks that jump to the mssclamp chain: forward, output, prerouting, postrouting (comma list).")
    var hooks: String = "forward"

    @Flag(help: "With a queue range, spread packets by CPU (--queue-cpu-fanout) instead of by flow.")
    var cpuFanout = false

    func validate() throws {
        guard QueueRange(parsing: queue) != nil else {
            throw ValidationError("--queue must be N or N-M with N <= M <= 65535, got '\(queue)'")
        }
        guard Hook.parseList(hooks) != nil else {
            throw ValidationError("--hooks takes forward, output, prerouting, postrouting; got '\(hooks)'")
        }
    }

    var queueRange: QueueRange { QueueRange(parsing: queue)! }
    var hookList: [Hook] { Hook.parseList(hooks)! }
}

/// The ceilings given on the command line.
struct CeilingOptions: ParsableArguments {
    @Option(help: "MSS ceiling for IPv4 SYNs (88-65495).")
    var mss: Int?

    @Option(help: "MSS ceiling for IPv6 SYNs (default: the IPv4 ceiling minus 20).")
    var mss6: Int?

    @Flag(help: "Do not insert an MSS option into SYNs that carry none.")
    var noInsert = false

    func validate() throws {
        if let mss, !validMSS.contains(mss) { throw ValidationError("--mss must be within 88-65495, got \(mss)") }
        if let mss6, !validMSS.contains(mss6) { throw ValidationError("--mss6 must be within 88-65495, got \(mss6)") }
    }

    /// The policy from --mss/--mss6.
    func policy() throws -> PolicySnapshot {
        guard let mss else { throw ValidationError("give --mss N (or --config FILE)") }
        let ipv6 = mss6 ?? max(validMSS.lowerBound, mss - 20)
        return PolicySnapshot(defaults: Ceilings(ipv4: UInt16(mss), ipv6: UInt16(ipv6)), insertMissing: !noInsert)
    }
}

extension MSSClamp {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the clamping daemon on one or more NFQUEUE queues.",
            discussion: """
                Binds the queues, optionally installs the NFQUEUE rules (removed again on exit), and clamps \
                every queued SYN and SYN/ACK. SIGUSR1 prints the counters; SIGINT/SIGTERM stop the daemon and \
                print them. Needs root or CAP_NET_ADMIN.
                """)

        @OptionGroup var ceilings: CeilingOptions
        @OptionGroup var queueOptions: QueueOptions

        @Flag(help: "Accept packets when the queue is full instead of dropping them (NFQA_CFG_F_FAIL_OPEN).")
        var failOpen = false

        @Flag(help: "Add the iptables/ip6tables NFQUEUE rules on start and remove them on exit.")
        var installRules = false

        @Option(help: "Packets the kernel may hold per queue waiting for a verdict.")
        var queueMaxlen: Int = 4096

        @Option(help: "Datagrams received per recvmmsg call (1-1024).")
        var batch: Int = 64

        @Flag(help: "Drop malformed SYNs instead of accepting them unmodified.")
        var dropMalformed = false

        func validate() throws {
            guard (1...1024).contains(batch) else { throw ValidationError("--batch must be within 1-1024") }
            guard (1...1_000_000).contains(queueMaxlen) else {
                throw ValidationError("--queue-maxlen must be within 1-1000000")
            }
            guard ceilings.mss != nil else { throw ValidationError("give --mss N") }
        }

        func run() throws {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .info
                return handler
            }
            let logger = Logger(label: "mssclamp")
            var queue = QueueConfiguration()
            queue.failOpen = failOpen
            queue.maximumLength = UInt32(queueMaxlen)
            queue.batchSize = batch
            let configuration = DaemonConfiguration(
                queues: queueOptions.queueRange, queue: queue, policy: try ceilings.policy(),
                installRules: installRules, hooks: queueOptions.hookList, cpuFanout: queueOptions.cpuFanout,
                malformedAction: dropMalformed ? .drop : .accept)
            let daemon = Daemon(configuration: configuration, logger: logger)
            let code = daemon.run()
            if code != 0 { throw ExitCode(code) }
        }
    }
}
