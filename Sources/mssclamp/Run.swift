import ArgumentParser
import Logging
import MSSDaemon
import MSSPolicy

extension MSSClamp {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the clamping daemon on one or more NFQUEUE queues.",
            discussion: """
                Binds the queues, optionally installs the NFQUEUE rules (removed again on exit), and clamps \
                every queued SYN and SYN/ACK. SIGHUP rereads the policy file, SIGUSR1 prints the counters, \
                SIGINT/SIGTERM stop the daemon without losing a queued SYN and print them. Under systemd it \
                speaks the notify protocol (READY, RELOADING, STOPPING, WATCHDOG). Every setting given here \
                wins over the file's, at start and at every reload. Needs root or CAP_NET_ADMIN.
                """)

        @OptionGroup var ceilings: CeilingOptions
        @OptionGroup var queueOptions: QueueOptions

        @Flag(
            inversion: .prefixedNo,
            help: "Accept packets when the queue is full instead of dropping them (NFQA_CFG_F_FAIL_OPEN). Default: the file's [queue] fail_open, else on.")
        var failOpen: Bool?

        @Flag(help: "Add the iptables/ip6tables NFQUEUE rules (and the kernel safety net) on start; remove the NFQUEUE rules on exit.") var installRules = false

        @Flag(
            inversion: .prefixedNo,
            help: "With --install-rules, put the kernel safety net behind the queue: SYNs the daemon cannot take are clamped by the kernel (and counted). It stays when the daemon stops. Default: on.")
        var safetyNet = true

        @Flag(
            inversion: .prefixedNo,
            help: "With --install-rules, watch live traffic for black holes (a sample of large TCP segments, NFLOG) and lower the ceiling of an address one is seen toward; `detect = false` turns it off per peer. Default: on.")
        var detect = true

        @Option(help: "Packets the kernel may hold per queue waiting for a verdict (default: the file's [queue] maxlen, else \(QueueDefaults.maxlen)).") var queueMaxlen: Int?

        @Option(help: "Datagrams received per recvmmsg call, \(ValueRange.queueBatch) (default: the file's [queue] batch, else \(QueueDefaults.batch)).") var batch: Int?

        @Option(help: "Control socket for `mssclamp peer` and `mssclamp stats` (root-only; 'none' disables it). Default: the file's [control] socket, else \(PolicyConfiguration.defaultControlSocket).") var controlSocket: String?

        @Flag(
            inversion: .prefixedNo,
            help: "Drop malformed SYNs instead of accepting them unmodified. Default: the file's malformed, else accept.")
        var dropMalformed: Bool?

        @Option(help: "After binding the queues, also switch to this user (CAP_NET_ADMIN is kept either way).") var user: String?

        @Flag(help: "Keep every capability (debugging only; by default all but CAP_NET_ADMIN are dropped).") var keepCapabilities = false

        @Option(help: "Serve Prometheus metrics on HOST:PORT (for example 127.0.0.1:9469).") var metrics: String?

        @Option(help: "Log each clamp (peer, addresses, old -> new MSS), at most N lines per second and worker.") var logClamps: Int = 0

        func validate() throws {
            if !ceilings.hasPolicy { throw ValidationError("give --config FILE or --mss N") }
            if let batch, !ValueRange.queueBatch.contains(batch) {
                throw ValidationError("--batch must be \(ValueRange.queueBatch.within)")
            }
            if let queueMaxlen, !ValueRange.queueMaxlen.contains(queueMaxlen) {
                throw ValidationError("--queue-maxlen must be \(ValueRange.queueMaxlen.within)")
            }
            if let controlSocket, controlSocket != "none", !controlSocket.hasPrefix("/") {
                throw ValidationError("--control-socket must be an absolute path or 'none'")
            }
        }

        /// The command line's settings, applied over the file's now and at every reload.
        var overrides: PolicyOverrides {
            var overrides = PolicyOverrides()
            ceilings.addOverrides(to: &overrides)
            queueOptions.addOverrides(to: &overrides)
            overrides.failOpen = failOpen
            overrides.dropMalformed = dropMalformed
            overrides.maxlen = queueMaxlen
            overrides.batch = batch
            overrides.controlSocket = controlSocket
            return overrides
        }

        func run() throws {
            LoggingSystem.bootstrap { DaemonLogHandler(label: $0) }
            let logger = Logger(label: "mssclamp")
            var settings = DaemonConfiguration(
                policy: try ceilings.configuration(), policyPath: ceilings.configPath, overrides: overrides,
                installRules: installRules)
            settings.user = user
            settings.safetyNet = safetyNet
            settings.detect = detect
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
