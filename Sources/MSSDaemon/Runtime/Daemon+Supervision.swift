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
    /// The main loop; returns the exit code once it is time to stop.
    func loop(_ signals: SignalWaiter) -> Int32 {
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
}
