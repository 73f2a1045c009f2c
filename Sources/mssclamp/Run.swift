import ArgumentParser
import Logging
import MSSDaemon
import MSSPolicy
import MSSQueue
import MSSRules

/// Options shared by `run` and `rules`: where packets are queued and which hooks jump to the chain.
struct QueueOptions: ParsableArguments {
    @Option(help: "NFQUEUE number, or a range N-M for one worker per queue (rules use --queue-balance). Default: the file's [queue] num, else 0.")
    var queue: String?

    @Option(help: "Hooks that jump to the mssclamp chain: forward, output, prerouting, postrouting (comma list). Default: the file's [queue] hooks, else forward.")
    var hooks: String?

    @Flag(help: "With a queue range, spread packets by CPU (--queue-cpu-fanout) instead of by flow.")
    var cpuFanout = false

    func validate() throws {
        if let queue, QueueRange(parsing: queue) == nil {
            throw ValidationError("--queue must be N or N-M with N <= M <= 65535, got '\(queue)'")
        }
        if let hooks, Hook.parseList(hooks) == nil {
            throw ValidationError("--hooks takes forward, output, prerouting, postrouting; got '\(hooks)'")
        }
    }

    /// The command line's queue, else the file's, else 0.
    func queueRange(_ file: QueueSettings = QueueSettings()) -> QueueRange {
        QueueRange(parsing: queue ?? file.num ?? "0")!  // both validated
    }

    func hookList(_ file: QueueSettings = QueueSettings()) -> [Hook] {
        Hook.parseList(hooks ?? file.hooks?.joined(separator: ",") ?? "forward")!
    }

    func fanout(_ file: QueueSettings = QueueSettings()) -> Bool { cpuFanout || (file.cpuFanout ?? false) }
}

/// Where the policy comes from: a policy file, or ceilings on the command line.
struct CeilingOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "Policy file (TOML): defaults, queue settings and [[peer]] entries.")
    var configPath: String?

    @Option(help: "MSS ceiling for IPv4 SYNs (88-65495).")
    var mss: Int?

    @Option(help: "MSS ceiling for IPv6 SYNs (default: the IPv4 ceiling minus 20).")
    var mss6: Int?

    @Flag(help: "Do not insert an MSS option into SYNs that carry none.")
    var noInsert = false

    func validate() throws {
        if let mss, !validMSS.contains(mss) { throw ValidationError("--mss must be within 88-65495, got \(mss)") }
        if let mss6, !validMSS.contains(mss6) { throw ValidationError("--mss6 must be within 88-65495, got \(mss6)") }
        if configPath != nil && (mss != nil || mss6 != nil || noInsert) {
            throw ValidationError("give either --config FILE or --mss/--mss6/--no-insert, not both")
        }
        if configPath == nil && mss == nil { throw ValidationError("give --config FILE or --mss N") }
    }

    /// The policy: the file's (errors printed, exit 65), or defaults from --mss/--mss6.
    func configuration() throws -> PolicyConfiguration {
        if let configPath {
            do {
                return try PolicyConfiguration.load(path: configPath)
            } catch {
                throw fail(error.description, code: 65)
            }
        }
        let mss = mss!
        let ipv6 = mss6 ?? max(validMSS.lowerBound, mss - 20)
        return PolicyConfiguration(defaults: Ceilings(ipv4: UInt16(mss), ipv6: UInt16(ipv6)), insertMissing: !noInsert)
    }

    /// The policy compiled for the engine.
    func policy() throws -> PolicySnapshot {
        let configuration = try configuration()
        do {
            return try PolicySnapshot(version: 1, configuration: configuration)
        } catch {
            throw fail(error.description, code: 65)
        }
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

        @Option(help: "Packets the kernel may hold per queue waiting for a verdict (default: the file's [queue] maxlen, else 4096).")
        var queueMaxlen: Int?

        @Option(help: "Datagrams received per recvmmsg call, 1-1024 (default: the file's [queue] batch, else 64).")
        var batch: Int?

        @Option(help: "Control socket for `mssclamp peer` and `mssclamp stats` (root-only; 'none' disables it). Default: the file's [control] socket, else \(PolicyConfiguration.defaultControlSocket).")
        var controlSocket: String?

        @Flag(help: "Drop malformed SYNs instead of accepting them unmodified.")
        var dropMalformed = false

        @Option(help: "After binding the queues, also switch to this user (CAP_NET_ADMIN is kept either way).")
        var user: String?

        @Flag(help: "Keep every capability (debugging only; by default all but CAP_NET_ADMIN are dropped).")
        var keepCapabilities = false

        @Option(help: "Serve Prometheus metrics on HOST:PORT (for example 127.0.0.1:9469).")
        var metrics: String?

        @Option(help: "Log each clamp (peer, addresses, old -> new MSS), at most N lines per second and worker.")
        var logClamps: Int = 0

        func validate() throws {
            if let batch, !(1...1024).contains(batch) { throw ValidationError("--batch must be within 1-1024") }
            if let queueMaxlen, !(1...1_000_000).contains(queueMaxlen) {
                throw ValidationError("--queue-maxlen must be within 1-1000000")
            }
            if let controlSocket, controlSocket != "none", !controlSocket.hasPrefix("/") {
                throw ValidationError("--control-socket must be an absolute path or 'none'")
            }
        }

        func run() throws {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .info
                return handler
            }
            let logger = Logger(label: "mssclamp")
            let policy = try ceilings.configuration()
            var queue = QueueConfiguration()
            queue.failOpen = failOpen || (policy.queue.failOpen ?? false)
            queue.maximumLength = UInt32(queueMaxlen ?? policy.queue.maxlen ?? 4096)
            queue.batchSize = batch ?? policy.queue.batch ?? 64
            let socketPath = controlSocket ?? policy.controlSocket
            let configuration = DaemonConfiguration(
                queues: queueOptions.queueRange(policy.queue), queue: queue, policy: policy,
                policyPath: ceilings.configPath, controlSocket: socketPath == "none" ? nil : socketPath,
                installRules: installRules, hooks: queueOptions.hookList(policy.queue),
                cpuFanout: queueOptions.fanout(policy.queue),
                malformedAction: dropMalformed || policy.dropMalformed ? .drop : .accept)
            var settings = configuration
            settings.user = user
            settings.dropPrivileges = !keepCapabilities
            settings.metricsAddress = metrics
            settings.auditPerSecond = max(0, logClamps)
            let daemon: Daemon
            do {
                daemon = try Daemon(configuration: settings, logger: logger)
            } catch {
                throw fail(error.message, code: error.exitCode)
            }
            let code = daemon.run()
            if code != 0 { throw ExitCode(code) }
        }
    }
}
