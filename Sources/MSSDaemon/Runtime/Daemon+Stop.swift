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
    /// The stop order: queues out of the path, drain, rules out, sockets closed.
    func stop(removeRules: Bool) {
        notifier?.stopping()
        // No new SYN for the queue: the liveness switch goes off (new SYNs reach the safety net), and the
        // queues take nothing more (length 0 with fail-open). Nothing watches the rules any more.
        ruleWatcher?.stop()
        shedding?.stop()
        linkEvents?.stop()
        holes?.stop()
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
        // The sampler's rules go, its hooks stay: unregistering a hook would drop every packet queued in
        // this namespace, another instance's included (BlackHoleWatch.installSampler).
        holes?.emptySampler()
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
    func abandon() {
        control?.stop()
        control = nil
        metrics?.stop()
        metrics = nil
        workers.removeAll()
    }
}
