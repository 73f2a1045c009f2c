import Logging
import MSSControl
import MSSPolicy
import MSSProbe
import MSSQueue
import MSSRules
import MSSSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

extension Daemon {
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
        for worker in workers { threads.append(NamedThread(name: "mssclamp-q\(worker.socket.queue)") { worker.run() }) }
        background = JobQueue(threads: 1)
        changes.start()
        // A recreated interface gets its peer back before its first SYN: re-resolve on the link event
        // itself; a worker that sees the new index first re-resolves then (InterfaceWatch), and the main
        // loop's 5-second check stays as a last fallback.
        sources?.start()
        holes?.start()
        linkEvents?.start { [self] in
            if let snapshot = policy.refreshInterfaces(waiting: true) {
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
        let summary = "clamping on queue \(configuration.queues): defaults \(snapshot.defaults), \(snapshot.peers.count) peer(s); insert missing MSS: \(snapshot.insertMissing ? "yes" : "no"); fail-open: \(configuration.queue.failOpen ? "yes" : "no")"
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
}
