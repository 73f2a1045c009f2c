import Foundation

/// The table `mssclamp bench` prints.
extension BenchReport {
    public var table: String {
        var lines: [String] = []
        lines.append(
            "mssclamp bench \(version): \(host.cpus) CPUs, Linux \(host.kernel); ceiling \(ceiling); "
                + "\(runs) interleaved run\(runs == 1 ? "" : "s") of \(format(seconds)) s per row"
                + (rate.map { "; generator paced at \(thousands($0)) SYN/s" } ?? ""))
        lines.append(
            "  " + pad("row", 40) + lpad("SYN/s", 12) + lpad("clamped/s", 12) + lpad("unclamped", 11)
                + lpad("dropped", 11) + lpad("ratio", 8))
        for row in rows {
            let ratio = row.ratio.map { String(format: "%.3f", $0) } ?? (row.row.clamps ? "target" : "-")
            lines.append(
                "  " + pad(row.title, 40) + lpad(thousands(row.synPerSecond), 12)
                    + lpad(row.row.clamps ? thousands(row.clampedPerSecond) : "-", 12)
                    + lpad(row.row.clamps ? "\(row.unclamped)" : "-", 11) + lpad(thousands(Double(row.dropped)), 11)
                    + lpad(ratio, 8))
        }
        lines.append("  SYN/s and clamped/s: medians of the counted windows; unclamped and dropped: whole passes, in all.")
        lines.append("  ratio: clamped/s over the kernel's TCPMSS under the same load (flood rows: the TCPMSS flood).")
        lines.append("  Rows with one generator thread keep it on CPU 0; the floods run a thread on every CPU.")
        if let flood = rows.first(where: { $0.row == .floodRun }) {
            lines.append(
                "  flood: the kernel safety net clamped \(thousands(Double(flood.netClamped))) of the shed SYNs; "
                    + "queue drops \(flood.queueDrops); \(flood.shedding.count) shedding log line(s)")
        }
        for cost in watchCost {
            lines.append(
                "  the black-hole watch's cost: clamped/s of \(cost.row.rawValue) over \(cost.without.rawValue) "
                    + String(format: "%.3f", cost.ratio))
        }
        if !latency.isEmpty {
            lines.append("handshake latency through the router (connect() to established, \(latency[0].count) per row):")
            for entry in latency {
                var line = "  " + pad(entry.title, 40) + "p50 " + lpad(format(entry.p50Microseconds), 7) + " us   p99 "
                    + lpad(format(entry.p99Microseconds), 7) + " us"
                if entry.row != .noRule {
                    line += String(format: "   added: p50 %+.0f us, p99 %+.0f us", entry.addedP50Microseconds, entry.addedP99Microseconds)
                }
                if entry.failed > 0 { line += "   (\(entry.failed) did not complete)" }
                lines.append(line)
            }
        }
        lines.append("whole run: \(format(elapsed)) s")
        return lines.joined(separator: "\n")
    }
}

func thousands(_ value: Double) -> String {
    let digits = String(Int(value.rounded()))
    var result = ""
    for (index, character) in digits.reversed().enumerated() {
        if index > 0, index % 3 == 0, character != "-" { result.append(",") }
        result.append(character)
    }
    return String(result.reversed())
}

func format(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(format: value < 10 ? "%.1f" : "%.0f", value)
}

func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count) }
func lpad(_ text: String, _ width: Int) -> String { text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text }
