import Foundation
import MSSWire

extension Statistics {
    /// A table for people: packets per outcome with reasons, per-peer counts and the kernel's queue view.
    public func rendered(title: String, kernel: [KernelQueueStatus] = []) -> String {
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        func right(_ value: UInt64, _ width: Int = 10) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
        }
        func detail(_ values: [String: UInt64]) -> String {
            values.isEmpty ? "" : "  (" + values.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                .joined(separator: ", ") + ")"
        }
        var lines = [title, "  " + pad("packets", 14) + right(packets)]
        for kind in OutcomeKind.allCases {
            var extra =
                kind == .malformed ? detail(malformed) : kind == .missingMSS ? detail(missingMSS) : ""
            if kind == .malformed && malformedClamped > 0 {
                extra += "  (\(malformedClamped) with an MSS before the malformation: clamped)"
            }
            lines.append("  " + pad(kind.description, 14) + right(outcomes[kind.description] ?? 0) + extra)
        }
        lines.append("  " + pad("truncated", 14) + right(truncated) + "  (cut by the copy range, accepted unmodified)")
        lines.append("  " + pad("csum_not_ready", 14) + right(checksumNotReady) + "  (checksum left to offload; completed when modified)")
        lines.append("  " + pad("dropped", 14) + right(dropped) + "  (malformed, drop configured)")
        lines.append("  " + pad("verdict_errors", 14) + right(verdictErrors))
        lines.append("  " + pad("batches", 14) + right(batches) + "  (largest \(largestBatch))")
        lines.append("  " + pad("stalls", 14) + right(workerStalls) + "  (\(stallMilliseconds) ms in all: SYNs waited)")
        lines.append("  " + pad("drained", 14) + right(drained) + "  (verdicted while stopping)")
        lines.append("  " + pad("rules_restored", 14) + right(rulesRestored) + "  (rules put back after another tool changed them)")
        if let queuedShare {
            let now = queuedShare == 0 ? "shedding now: no SYN queued" : queuedShare < 1 ? "shedding now: 1 SYN in \(Int((1 / queuedShare).rounded())) queued" : "every SYN queued now"
            lines.append("  " + pad("shedding", 14) + right(sheddingEpisodes) + "  (overloads shed to the safety net; \(now))")
        }
        if let safetyNetClamped {
            lines.append("  " + pad("net_clamped", 14) + right(safetyNetClamped) + "  (SYNs the kernel safety net clamped: user space did not take them)")
        }
        if !peers.isEmpty {
            lines.append("  per peer           seen   clamped  already_low  inserted  malformed")
            for (name, counters) in peers.sorted(by: { $0.key < $1.key }) {
                lines.append(
                    "  " + pad(name, 14) + right(counters.seen) + right(counters.clamped)
                        + right(counters.alreadyLow, 13) + right(counters.inserted) + right(counters.malformed, 11))
            }
        }
        if !autoCeilings.isEmpty {
            lines.append("  auto ceilings (mss = \"auto\")")
            for auto in autoCeilings {
                let ceilings = "mss \(auto.mss4.map(String.init) ?? "none")/\(auto.mss6.map(String.init) ?? "none")"
                let mtu = auto.pathMTU.map { "  path MTU \($0)" } ?? ""
                let at = auto.at.map { "  at \(AutoCeilings.timestamp(Date(timeIntervalSince1970: $0)))" } ?? ""
                lines.append("    " + pad(auto.peer, 28) + pad(auto.address, 18) + pad(auto.state, 11) + ceilings + mtu + at)
            }
        }
        for queue in kernel {
            lines.append(
                "  kernel queue \(queue.queue): waiting \(queue.waiting), queue_dropped \(queue.queueDropped), "
                    + "user_dropped \(queue.userDropped), last id \(queue.lastID)")
        }
        return lines.joined(separator: "\n")
    }
}
