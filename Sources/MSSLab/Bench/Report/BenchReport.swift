/// What `mssclamp bench` measured, as `--json` prints it and the table and chart draw it.
public struct BenchReport: Codable, Sendable {
    public struct Host: Codable, Sendable {
        public var cpus: Int
        public var kernel: String
    }

    /// One row over every pass: medians of the rates, totals of the counts.
    public struct Row: Codable, Sendable {
        public var row: BenchRow
        public var title: String
        public var generatorThreads: Int
        /// SYNs delivered per second (median of the passes), clamped or not.
        public var synPerSecond: Double
        /// SYNs delivered clamped per second (median of the passes).
        public var clampedPerSecond: Double
        public var sent: UInt64
        public var unclamped: UInt64
        public var dropped: UInt64
        public var queueDrops: UInt64
        public var netClamped: UInt64
        /// clamped/s over the baseline's clamped/s (the kernel's TCPMSS under the same load).
        public var ratio: Double?
        public var baseline: BenchRow?
        public var shedding: [String]
        public var passes: [RowMeasurement]
    }

    /// Handshake latency through the router.
    public struct Latency: Codable, Sendable {
        public var row: BenchRow
        public var title: String
        public var count: Int
        public var failed: Int
        public var p50Microseconds: Double
        public var p99Microseconds: Double
        /// p50 and p99 minus those of plain forwarding.
        public var addedP50Microseconds: Double
        public var addedP99Microseconds: Double
    }

    /// A row with the black-hole watch against the same row with `--no-detect`, when both ran.
    public struct WatchCost: Codable, Sendable {
        public var row: BenchRow
        public var without: BenchRow
        /// clamped/s with the watch over clamped/s without it.
        public var ratio: Double
    }

    public var benchmark = "mssclamp bench"
    public var version: String
    public var host: Host
    public var ceiling: Int
    public var seconds: Double
    public var runs: Int
    public var queues: Int
    /// The lab's namespaces (gone when the report is printed).
    public var namespaces: [String]
    /// The generator's pace (SYN/s in all), or nil: full rate.
    public var rate: Double?
    public var rows: [Row]
    public var latency: [Latency]
    public var watchCost: [WatchCost]
    /// Seconds the whole run took, lab included.
    public var elapsed: Double
}

extension BenchReport.Row {
    /// The rate the row is judged by: clamped SYNs, or every SYN where nothing clamps.
    public var rate: Double { row.clamps ? clampedPerSecond : synPerSecond }
}

/// The p-th percentile (0...100) of `values`, nearest rank; 0 for none.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// The median: the middle value, or the mean of the two middle ones (two passes give their mean).
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
