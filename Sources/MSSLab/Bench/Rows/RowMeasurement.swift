import Foundation
import MSSSystem

/// One pass of one row: the row's rules in place, SYNs at full rate for the warm-up and then `seconds`,
/// the sink's counters read around the counted window and after a short drain.
public struct RowMeasurement: Codable, Sendable {
    public var row: BenchRow
    /// Frames the generator handed the kernel, warm-up included.
    public var sent: UInt64
    /// SYNs delivered per second in the counted window (clamped or not).
    public var deliveredPerSecond: Double
    /// SYNs delivered clamped per second in the counted window.
    public var clampedPerSecond: Double
    /// Over the whole pass: SYNs delivered with their MSS above the ceiling.
    public var unclamped: UInt64
    /// Over the whole pass: sent but never delivered (queue drops, softirq backlog, the veth's queue).
    public var dropped: UInt64
    /// Over the whole pass: the kernel queue's own drop count.
    public var queueDrops: UInt64
    /// Over the whole pass: SYNs the kernel safety net clamped (a flood's shed load).
    public var netClamped: UInt64
    /// The daemon's log lines about shedding.
    public var shedding: [String]

    static func measure(
        _ row: BenchRow, setup: RouterSetup, seconds: Double, rate: Double?, sequence: Int, stop: () -> Bool
    ) throws(LabFailure) -> RowMeasurement {
        let lab = setup.lab
        let installed = try setup.install(row, sequence: sequence)
        do throws(LabFailure) {
            let threads = row.isFlood ? ThreadAffinity.onlineCPUs : 1
            let before = try lab.sinkCounts()
            let drops = lab.queueDrops()
            let net = lab.netClamped()
            let generator = try SYNGenerator(lab: lab, threads: threads, rate: rate)
            var windowStart = before
            var windowEnd = before
            var failure: LabFailure?
            do {
                try pause(row.warmUp, stop: stop)
                windowStart = try lab.sinkCounts()
                try pause(seconds, stop: stop)
                windowEnd = try lab.sinkCounts()
            } catch {
                failure = error
            }
            let sent = try generator.stop()
            if let failure { throw failure }
            Thread.sleep(forTimeInterval: 0.3)  // what is still queued gets its verdict
            let after = try lab.sinkCounts()
            let delivered = (after.clamped - before.clamped) + (after.unclamped - before.unclamped)
            let measurement = RowMeasurement(
                row: row, sent: sent,
                deliveredPerSecond: Double(
                    (windowEnd.clamped - windowStart.clamped) + (windowEnd.unclamped - windowStart.unclamped)) / seconds,
                clampedPerSecond: Double(windowEnd.clamped - windowStart.clamped) / seconds,
                unclamped: after.unclamped - before.unclamped,
                dropped: sent > delivered ? sent - delivered : 0,
                queueDrops: lab.queueDrops().saturatingMinus(drops), netClamped: lab.netClamped().saturatingMinus(net),
                shedding: installed.sheddingLines)
            setup.remove(installed)
            return measurement
        } catch {
            setup.remove(installed)
            throw error
        }
    }

    /// Sleeps `seconds`, waking every 50 ms to see whether the run was interrupted.
    static func pause(_ seconds: Double, stop: () -> Bool) throws(LabFailure) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if stop() { throw LabFailure(.interrupted(ProcessSignals.interrupted ?? SIGINT), "interrupted") }
            Thread.sleep(forTimeInterval: min(0.05, max(0, end.timeIntervalSinceNow)))
        }
    }
}

extension UInt64 {
    /// self - other, or 0 when a counter went back (a queue unbound and bound again starts at zero).
    func saturatingMinus(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}
