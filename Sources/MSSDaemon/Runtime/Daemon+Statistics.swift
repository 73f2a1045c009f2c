import MSSControl
import MSSQueue
import MSSRules

extension Daemon {
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
        }
        total[.rulesRestored] = rules?.restored.load(ordering: .relaxed) ?? 0
        if let shedding {
            let shift = shedding.shift.load(ordering: .relaxed)
            total.queuedShare = shift == RuleSpec.shedAll ? 0 : 1 / Double(1 << shift)
            total.sheddingEpisodes = shedding.episodes.load(ordering: .relaxed)
        }
        total.autoCeilings = sources?.auto.reports() ?? []
        total.strongswan = sources?.strongSwanReport()
        total.blackHoles = holes?.report()
        return total
    }


    func kernelQueues() -> [KernelQueueStatus] {
        KernelQueueStatus.read().filter { configuration.queues.queues.contains($0.queue) }
    }

    /// Counters plus the kernel's view of each queue.
    public func renderedReport(_ statistics: Statistics? = nil) -> String {
        (statistics ?? fullStatistics).rendered(
            title: "mssclamp statistics, queue \(configuration.queues), policy version \(store.currentVersion)",
            kernel: kernelQueues())
    }
}
