import Foundation

/// `--svg FILE`: the rows as horizontal bars (clamped SYN/s; SYN/s for plain forwarding), each with its
/// ratio to the kernel's TCPMSS, and the handshake latency rows below. Plain SVG, no script, no fonts
/// beyond the generic family.
extension BenchReport {
    public var svg: String {
        let width = 860.0
        let left = 250.0
        let barArea = width - left - 170
        let rowHeight = 28.0
        let top = 56.0
        let largest = max(rows.map(\.rate).max() ?? 1, 1)
        var height = top + Double(rows.count) * rowHeight + 24
        if !latency.isEmpty { height += 30 + Double(latency.count) * 22 }
        var out: [String] = []
        out.append(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
                + "font-family=\"sans-serif\" font-size=\"13\">")
        out.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        out.append(
            "<text x=\"16\" y=\"24\" font-size=\"15\" font-weight=\"bold\">\(escape("mssclamp bench \(version): SYNs through a router namespace"))</text>")
        out.append(
            "<text x=\"16\" y=\"42\" fill=\"#555\">\(escape("\(host.cpus) CPUs, Linux \(host.kernel); ceiling \(ceiling); \(runs) run(s) of \(format(seconds)) s per row; clamped SYN/s (forwarding: all SYN/s)"))</text>")
        for (index, row) in rows.enumerated() {
            let y = top + Double(index) * rowHeight
            let length = max(1, row.rate / largest * barArea)
            let colour = row.row == .noRule ? "#9e9e9e" : (row.baseline == nil ? "#43a047" : "#1e88e5")
            out.append("<text x=\"16\" y=\"\(y + 17)\">\(escape(row.title))</text>")
            out.append(
                "<rect x=\"\(left)\" y=\"\(y + 4)\" width=\"\(String(format: "%.1f", length))\" height=\"18\" fill=\"\(colour)\"/>")
            var label = thousands(row.rate) + "/s"
            if let ratio = row.ratio { label += String(format: "  (%.3f)", ratio) }
            if row.row.clamps, row.unclamped > 0 { label += "  \(row.unclamped) unclamped" }
            out.append("<text x=\"\(String(format: "%.1f", left + length + 6))\" y=\"\(y + 17)\">\(escape(label))</text>")
        }
        if !latency.isEmpty {
            var y = top + Double(rows.count) * rowHeight + 30
            out.append("<text x=\"16\" y=\"\(y)\" font-weight=\"bold\">handshake latency (connect() to established)</text>")
            for entry in latency {
                y += 22
                let text = "\(entry.title): p50 \(format(entry.p50Microseconds)) us, p99 \(format(entry.p99Microseconds)) us"
                out.append("<text x=\"16\" y=\"\(y)\">\(escape(text))</text>")
            }
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}

private func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
