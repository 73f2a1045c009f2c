import Logging
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
    private let logger: Logger
    private var workers: [Worker] = []
    private var threads: [WorkerThread] = []
    private var control: ControlServer?
    /// Held from start to exit: a second daemon of this instance in this namespace is refused.
    private var claim: InstanceClaim?
    private var metrics: MetricsServer?
    private var rules: RuleKeeper?
    private var changes: PolicyChanges!
    private let notifier = ServiceNotifier()
    /// Reloads and other slow policy work started by the main loop run here, one after the other, so the
    /// loop keeps answering signals and pinging the watchdog.
    private var background: JobQueue?
    /// The queue rules' dead man's switch (`Liveness`): refreshed by the main loop while every worker
    /// turns its loop, cleared first when stopping.
    private var liveness: LivenessSwitch?
    /// Interface changes (rtnetlink): peers' interface names are re-resolved at once.
    private var linkEvents: NetlinkEvents?
    /// Puts the rules back when another tool takes them out.
    private var ruleWatcher: RuleWatcher?
    /// Sheds SYNs to the safety net while more come than the queue's rate (`OverloadShedder`).
    private var shedding: LoadShedding?
    /// Peers made by templates (WireGuard, learn-address) and the measured ceilings of auto ones.
    private var sources: PeerSources?
    /// Where SIGUSR1 reports and the exit report go.
    private let report: @Sendable (String) -> Void

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

    /// `statistics` plus what the kernel counts: the safety net's clamps (read with nft).
    public var fullStatistics: Statistics {
        var total = statistics
        if rules != nil && configuration.safetyNet { total.safetyNetClamped = SafetyNet.clampedCount(instance: configuration.instance) }
        return total
    }

    /// The counters of every worker, summed, with their stall and drain counts.
    public var statistics: Statistics {
        var total = Statistics()
        for worker in workers {
            total.merge(worker.statistics)
            total.workerStalls &+= worker.stalls.load(ordering: .relaxed)
            total.stallMilliseconds &+= worker.stallMilliseconds.load(ordering: .relaxed)
            total.drained &+= worker.drained.load(ordering: .relaxed)
        }
        total.rulesRestored = rules?.restored.load(ordering: .relaxed) ?? 0
        if let shedding {
            let shift = shedding.shift.load(ordering: .relaxed)
            total.queuedShare = shift == RuleSpec.shedAll ? 0 : 1 / Double(1 << shift)
            total.sheddingEpisodes = shedding.episodes.load(ordering: .relaxed)
        }
        total.autoCeilings = sources?.auto.reports() ?? []
        return total
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
            let variant = IptablesVariant.fromInstalledCommand() ?? .nft
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
        ruleWatcher = rules.map { RuleWatcher(keeper: $0) }
        if let path = configuration.controlSocket {
            var requests = ControlRequests(
                changes: changes, statistics: { [unowned self] in statistics },
                fullStatistics: { [unowned self] in fullStatistics }, report: { [unowned self] in renderedReport($0) })
            requests.learn = { request, role in sources.handleLearn(request, trusted: role == .root) }
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

    /// Runs until SIGINT or SIGTERM (or a worker fails); returns the exit code.
    public func run() -> Int32 {
        let signals = SignalWaiter([SIGINT, SIGTERM, SIGUSR1, SIGHUP])
        Privileges.raiseOpenFileLimit()
        do {
            try prepare()
        } catch {
            logger.error("\(error.message)")
            return error.exitCode
        }
        // The rules go in while the daemon still has every privilege and before any thread exists. Nothing
        // is queued yet: the queue rules match only once the liveness switch says the daemon is alive.
        if let rules {
            let spec = configuration.ruleSpec(store.snapshot)
            do {
                let net = try rules.install(spec, policy: NftPolicy(snapshot: store.snapshot), version: store.snapshot.version)
                logger.info(
                    "rules installed with iptables-\(rules.variant.rawValue) (\(configuration.hooks.map(\.chain).joined(separator: ", ")) -> \(spec.chain), every SYN of \(describeFamilies(spec)))\(net ? "; safety net table inet \(configuration.instance.netTable) behind it" : "")"
                )
            } catch {
                logger.error("cannot install rules: \(error.message)")
                abandon()
                return error.exitCode
            }
        }
        let settings = configuration.effective.queue
        let rate = settings.rate ?? QueueDefaults.rate
        if let rules, rules.hasNet, rate > 0 {
            shedding = LoadShedding(
                keeper: rules, queues: configuration.queues.queues, instance: configuration.instance, rate: rate,
                burst: settings.burst ?? QueueDefaults.burst, logger: logger)
        }
        // The switch's file is opened now, while it still may be (with --user the daemon could not later).
        liveness = LivenessSwitch(path: Liveness.path(for: configuration.instance))
        // The queues are bound: nothing but CAP_NET_ADMIN is needed from here on (verdicts, and the
        // iptables/nft runs, which inherit it as an ambient capability). Capabilities are per thread, so
        // this runs before any other thread exists.
        if configuration.dropPrivileges {
            // iptables-legacy's tools need CAP_NET_RAW besides CAP_NET_ADMIN; a daemon that manages its
            // rules with them keeps it (the nf_tables variant needs CAP_NET_ADMIN only).
            let legacy = rules?.variant == .legacy
            do {
                let bounding = try Privileges.dropToNetAdmin(user: configuration.user, extra: legacy ? Privileges.netRaw : 0)
                logger.info(
                    "privileges dropped: CAP_NET_ADMIN only\(legacy ? " (and CAP_NET_RAW, which iptables-legacy needs to update and remove the rules)" : "")\(configuration.user.map { ", running as \($0)" } ?? "")\(bounding ? "" : "; the bounding set stays as it was (started without CAP_SETPCAP)")"
                )
            } catch {
                logger.error("\(error.message)")
                rules?.remove()
                abandon()
                return error.exitCode
            }
        }
        // Output through its own thread from here on: no thread waits for whoever reads stdout/stderr.
        LogWriter.shared.start()
        defer { LogWriter.shared.stop() }
        for worker in workers { threads.append(WorkerThread(name: "mssclamp-q\(worker.socket.queue)") { worker.run() }) }
        background = JobQueue(threads: 1)
        changes.start()
        // A recreated interface gets its peer back before its first SYN: re-resolve on the link event
        // itself (the main loop's 5-second check stays as a fallback).
        sources?.start()
        linkEvents?.start { [self] in
            if let snapshot = policy.refreshInterfaces() {
                logger.info("interface change: policy version \(snapshot.version) resolves the peers' interfaces anew")
            }
        }
        ruleWatcher?.start(now: monotonicMilliseconds())
        shedding?.start(now: monotonicMilliseconds())
        // The workers run: SYNs may come.
        if let liveness {
            liveness.refresh()
        } else if rules != nil {
            logger.warning("no liveness switch (\(Liveness.path(for: configuration.instance))): SYNs are queued only if the rules were applied without it")
        }
        control?.start()
        metrics?.start()
        let snapshot = store.snapshot
        let summary = "clamping on queue \(configuration.queues): defaults \(describe(snapshot.defaults)), \(snapshot.peers.count) peer(s); insert missing MSS: \(snapshot.insertMissing ? "yes" : "no"); fail-open: \(configuration.queue.failOpen ? "yes" : "no")"
        logger.info(
            "\(summary)\(control.map { "; control socket \($0.path)" } ?? "")\(metrics.map { "; metrics on http://\($0.address)/metrics" } ?? "")"
        )
        changes.warnMissingInterfaces(snapshot)
        notifier?.ready(status: summary)

        let exitCode = loop(signals)
        stop(removeRules: true)
        report(renderedReport())
        return exitCode
    }

    /// The main loop; returns the exit code once it is time to stop.
    private func loop(_ signals: SignalWaiter) -> Int32 {
        var lastInterfaceCheck = monotonicMilliseconds()
        var lastPing: Int64 = 0
        var lastRefresh = monotonicMilliseconds()
        var lastTurn = monotonicMilliseconds()
        var seenStalls = workers.map { _ in UInt64(0) }
        let reloading = Atomic(false)
        while true {
            let signal = signals.wait(timeoutMilliseconds: 250)
            let now = monotonicMilliseconds()
            if now - lastTurn > 1500 {
                logger.warning("the daemon did not run for \(now - lastTurn) ms (stopped or starved); queued SYNs waited that long")
            }
            lastTurn = now
            switch signal {
            case SIGINT, SIGTERM:
                logger.info("stopping")
                return 0
            case SIGUSR1:
                report(renderedReport())
            case SIGHUP:
                // In the background: a large file takes a moment, and the loop must keep pinging.
                if reloading.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
                    notifier?.reloading()
                    background?.async { [self] in
                        _ = changes.reload(allowEmpty: false)
                        reloading.store(false, ordering: .releasing)
                        notifier?.ready(status: "policy version \(store.currentVersion)")
                    }
                } else {
                    logger.warning("SIGHUP while a reload is running: ignored; send it again once it is done")
                }
            default:
                break
            }
            if let failed = workers.lazy.compactMap({ $0.failure.withLock { $0 } }).first {
                logger.error("worker stopped: \(failed.description)")
                return 70
            }
            for (index, worker) in workers.enumerated() {
                let stalls = worker.stalls.load(ordering: .relaxed)
                if stalls != seenStalls[index] {
                    seenStalls[index] = stalls
                    logger.warning(
                        "worker of queue \(worker.socket.queue) stalled (\(stalls) time(s), \(worker.stallMilliseconds.load(ordering: .relaxed)) ms in all); SYNs queued meanwhile waited")
                }
            }
            // The watchdog, and the queue's liveness sets, hear from us only while every worker turns its
            // loop: a stuck worker stops both, and its SYNs go to the safety net within seconds.
            let fresh = workers.allSatisfy { now - $0.heartbeat.load(ordering: .relaxed) < $0.stallThreshold }
            if let interval = notifier?.watchdogInterval, now - lastPing >= min(interval, 1000), fresh {
                notifier?.watchdog()
                lastPing = now
            }
            if ruleWatcher?.takeLivenessListRecreated() == true {
                // The restored rules made a new list: open it again (root can; after --user the switch
                // stays off and the safety net takes the SYNs).
                liveness = LivenessSwitch(path: Liveness.path(for: configuration.instance))
                if liveness == nil { logger.warning("the liveness switch cannot be reopened; SYNs go to the safety net") }
                lastRefresh = 0
            }
            if fresh, now - lastRefresh >= Liveness.refreshMilliseconds {
                lastRefresh = now
                liveness?.refresh()
            }
            // Someone else's firewall change may have taken the rules: check, and put them back.
            ruleWatcher?.tick(now: now)
            // More SYNs than the queue's rate: queue a sample, the safety net clamps the rest.
            shedding?.tick(now: now)
            // Tunnel interfaces come and go with new indexes: re-resolve peers' names every 5 s.
            if now - lastInterfaceCheck > 5000 {
                lastInterfaceCheck = now
                if let snapshot = policy.refreshInterfaces() {
                    background?.async { [self] in changes.interfacesChanged(snapshot) }
                }
            }
        }
    }

    /// The stop order: queues out of the path, drain, rules out, sockets closed.
    private func stop(removeRules: Bool) {
        notifier?.stopping()
        // No new SYN for the queue: the liveness switch goes off (new SYNs reach the safety net), and the
        // queues take nothing more (length 0 with fail-open). Nothing watches the rules any more.
        ruleWatcher?.stop()
        shedding?.stop()
        linkEvents?.stop()
        sources?.stop()
        liveness?.clear()
        for worker in workers {
            do { try worker.socket.bypass() } catch {
                logger.error("queue \(worker.socket.queue): cannot take the queue out of the path: \(error.description)")
            }
        }
        for worker in workers { worker.beginDrain() }
        // Each worker ends at its first empty receive; one stuck for 3 s is told to stop regardless.
        let deadline = monotonicMilliseconds() + 3000
        while workers.contains(where: { !$0.finished.load(ordering: .acquiring) }) && monotonicMilliseconds() < deadline {
            usleep(5_000)
        }
        for worker in workers { worker.requestStop() }
        for thread in threads { thread.join() }
        threads.removeAll()
        let drained = workers.reduce(0) { $0 + $1.drained.load(ordering: .relaxed) }
        if drained > 0 { logger.info("\(drained) queued packet(s) given their verdict while stopping") }
        background?.stop()
        changes.stop()
        background = nil
        if removeRules { rules?.remove() }
        control?.stop()
        control = nil
        metrics?.stop()
        metrics = nil
        // The workers' sockets close with the daemon; their queues are empty by now.
    }

    /// Gives up before any worker ran: nothing was queued to us yet, so closing loses nothing.
    private func abandon() {
        control?.stop()
        control = nil
        metrics?.stop()
        metrics = nil
        workers.removeAll()
    }

    private func kernelQueues() -> [KernelQueueStatus] {
        KernelQueueStatus.read().filter { configuration.queues.queues.contains($0.queue) }
    }

    /// Counters plus the kernel's view of each queue.
    public func renderedReport(_ statistics: Statistics? = nil) -> String {
        (statistics ?? fullStatistics).rendered(
            title: "mssclamp statistics, queue \(configuration.queues), policy version \(store.currentVersion)",
            kernel: kernelQueues())
    }
}
