import Logging
import MSSControl
import MSSPolicy
import MSSProbe
import MSSQueue
import MSSRules
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's life: start, run, stop, each in the order that loses no SYN.
///
/// - Start: bind and configure every queue, install the rules (while the daemon may still run every
///   tool; a SYN queued before the workers run waits in the bound queue, none is lost), drop privileges,
///   start the workers, then open the control socket and the metrics endpoint, then tell systemd
///   READY=1.
/// - Run: the main thread waits for signals (SIGINT/SIGTERM stop, SIGHUP reloads in the background,
///   SIGUSR1 prints the counters), pings the systemd watchdog while every worker turns its loop, logs
///   worker stalls, and re-resolves interface names.
/// - Stop: take every queue out of the path first (length 0 with fail-open: new SYNs continue to the next
///   hook at once), let the workers drain and verdict what the kernel still holds, remove the rules,
///   then close. Closing a queue with packets in it would make the kernel drop them.
public final class Daemon: @unchecked Sendable {
    public let configuration: DaemonConfiguration
    public let policy: PolicyManager
    public var store: PolicyStore { policy.store }
    let logger: Logger
    var workers: [Worker] = []
    var threads: [NamedThread] = []
    var control: ControlServer?
    /// Held from start to exit: a second daemon of this instance in this namespace is refused.
    var claim: InstanceClaim?
    var metrics: MetricsServer?
    var rules: RuleKeeper?
    var changes: PolicyChanges!
    let notifier = ServiceNotifier()
    /// Reloads and other slow policy work started by the main loop run here, one after the other, so the
    /// loop keeps answering signals and pinging the watchdog.
    var background: JobQueue?
    /// The queue rules' dead man's switch (`Liveness`): refreshed by the main loop while every worker
    /// turns its loop, cleared first when stopping.
    var liveness: LivenessSwitch?
    /// Interface changes (rtnetlink): peers' interface names are re-resolved at once.
    var linkEvents: NetlinkEvents?
    /// Puts the rules back when another tool takes them out.
    var ruleWatcher: RuleWatcher?
    /// Sheds SYNs to the safety net while more come than the queue's rate (`OverloadShedder`).
    var shedding: LoadShedding?
    /// Peers made by templates (WireGuard, learn-address) and the measured ceilings of auto ones.
    var sources: PeerSources?
    /// Black holes found in live traffic (with `--install-rules`: its sampler is an nft table).
    var holes: BlackHoleWatch?
    /// Where SIGUSR1 reports and the exit report go.
    let report: @Sendable (String) -> Void

    public init(
        configuration: DaemonConfiguration, logger: Logger,
        report: @escaping @Sendable (String) -> Void = { text in LogWriter.shared.write(text + "\n", to: 1) }
    ) throws(DaemonError) {
        self.configuration = configuration
        do {
            policy = try PolicyManager(
                configuration: configuration.policy, path: configuration.policyPath, overrides: configuration.overrides)
        } catch {
            throw DaemonError(message: error.description, exitCode: 65)
        }
        self.logger = logger
        self.report = report
    }

    /// Checks privileges, binds every queue and opens the sockets. No thread runs yet; an error leaves
    /// nothing behind.
    func prepare() throws(DaemonError) {
        guard Privileges.hasNetAdmin else {
            throw DaemonError(message: "mssclamp run needs root or CAP_NET_ADMIN (binding NFQUEUE)", exitCode: 69)
        }
        claim = try InstanceClaim(configuration.instance, scope: configuration.effective.queue.interfaces ?? [])
        do {
            for queue in configuration.queues.queues {
                let socket = try QueueSocket(queue: queue, configuration: configuration.queue)
                workers.append(Worker(socket: socket, store: store))
            }
        } catch {
            workers.removeAll()
            let code: Int32 = error.kind == .failed ? 70 : 69
            throw DaemonError(message: error.description, exitCode: code)
        }
        if configuration.installRules {
            // Which iptables is asked now, before privileges go (it reads links, runs nothing).
            let variant = (try? IptablesVariant.detect()) ?? .nft
            rules = RuleKeeper(rules: RuleSet(iptables: IptablesBackend(variant: variant), instance: configuration.instance), logger: logger)
        }
        let workers = self.workers
        changes = PolicyChanges(
            policy: policy, rules: rules, logger: logger, ruleSpec: { [configuration] in configuration.ruleSpec($0) },
            applyQueueSettings: { maxlen, failOpen in
                for worker in workers { try? worker.socket.reconfigure(maximumLength: maxlen, failOpen: failOpen) }
            })
        if let address = configuration.metricsAddress {
            do {
                let server = try MetricsServer(address: address) { [unowned self] in
                    MetricsRendering.Snapshot(
                        statistics: fullStatistics, kernel: kernelQueues(), policyVersion: store.currentVersion,
                        changes: changes.changeCounts, peers: store.snapshot.peers.count)
                }
                metrics = server
                let histogram = server.rendering.batchSizes
                for worker in workers { worker.batchObserver = { histogram.record(Double($0)) } }
            } catch {
                self.workers.removeAll()
                throw error
            }
        }
        // Waiting: the link-event thread may be publishing the same change; without its snapshot the
        // worker would decide the SYN on the stale one. Reached only just after an interface came back.
        for worker in workers { worker.refreshInterfaces = { [policy] in _ = policy.refreshInterfaces(waiting: true) } }
        if configuration.auditPerSecond > 0 {
            for worker in workers { worker.audit = ClampAudit(logger: logger, perSecond: configuration.auditPerSecond) }
        }
        linkEvents = NetlinkEvents.links()
        // The raw ICMP sockets of mss = "auto" are opened now, while CAP_NET_RAW may still be there; the
        // measuring thread uses them after the drop.
        let echo = EchoSockets.open()
        let sources = PeerSources(
            policy: policy, auto: AutoCeilings(sockets: echo.sockets, unavailable: echo.error, logger: logger), logger: logger,
            learnedPath: configuration.controlSocket.map { $0 + ".learned" },
            changed: { [changes] snapshot in changes?.sourcedChanged(snapshot) })
        self.sources = sources
        if echo.sockets == nil, policy.configuration.templates.contains(where: \.isAuto) {
            logger.warning("mss = \"auto\" peers get their fallback: \(echo.error ?? "no raw ICMP socket")")
        }
        if rules != nil, configuration.detect {
            // Bound now, while every capability is there (binding needs CAP_NET_ADMIN, which stays anyway).
            let group = configuration.sampleGroup
            do {
                let socket = try SampleSocket(group: group)
                holes = BlackHoleWatch(
                    socket: socket, table: configuration.instance.sampleTable, policy: policy, auto: sources.auto,
                    logger: logger, storePath: configuration.controlSocket.map { $0 + ".detected" },
                    changed: { [changes] snapshot in changes?.sourcedChanged(snapshot) })
            } catch {
                logger.warning("no black-hole watch: \(error)")
            }
        }
        ruleWatcher = rules.map { RuleWatcher(keeper: $0) }
        if let holes { ruleWatcher?.alsoKeep.append { holes.keepSampler() } }
        if let path = configuration.controlSocket {
            var requests = ControlRequests(
                changes: changes, statistics: { [unowned self] in statistics },
                fullStatistics: { [unowned self] in fullStatistics }, report: { [unowned self] in renderedReport($0) })
            requests.learn = { template, operation, address, commonName, trusted in
                sources.learn(template: template, operation: operation, address: address, commonName: commonName, trusted: trusted)
                    .mapError { ChangeRefusal($0.description) }
            }
            do {
                control = try ControlServer(path: path, group: configuration.effective.controlGroup) { [requests] in requests.handle($0, role: $1) }
            } catch {
                self.workers.removeAll()
                metrics?.stop()
                metrics = nil
                throw DaemonError(message: error.description, exitCode: error.exitCode)
            }
        }
    }
}
