import Foundation
import MSSControl
import MSSPolicy
import MSSQueue
import MSSWire

extension Statistics {
    /// A table for people: packets per outcome with reasons, per-peer counts and the kernel's queue view.
    public func rendered(title: String, kernel: [KernelQueueStatus] = []) -> String {
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        func right(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
        }
        func right(_ value: UInt64, _ width: Int = 10) -> String { right(String(value), width) }
        func detail(_ values: [String: UInt64]) -> String {
            values.isEmpty ? "" : "  (" + values.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                .joined(separator: ", ") + ")"
        }
        var lines = [title, "  " + pad("packets", 14) + right(self[.packets])]
        for kind in OutcomeKind.allCases {
            let extra = kind == .malformed ? detail(malformed) : kind == .missingMSS ? detail(missingMSS) : ""
            lines.append("  " + pad(kind.description, 14) + right(outcomes[kind.description] ?? 0) + extra)
        }
        for counter in Counter.allCases where counter != .packets {
            let spec = counter.spec
            lines.append("  " + pad(spec.label, 14) + right(self[counter]) + (spec.note.isEmpty ? "" : "  (\(spec.note))"))
        }
        if let queuedShare {
            let now = queuedShare == 0 ? "shedding now: no SYN queued" : queuedShare < 1 ? "shedding now: 1 SYN in \(Int((1 / queuedShare).rounded())) queued" : "every SYN queued now"
            lines.append("  " + pad("shedding", 14) + right(sheddingEpisodes) + "  (overloads shed to the safety net; \(now))")
        }
        if let safetyNetClamped {
            lines.append("  " + pad("net_clamped", 14) + right(safetyNetClamped) + "  (SYNs the kernel safety net clamped: user space did not take them)")
        }
        if !peers.isEmpty {
            let columns = PeerCounter.allCases
            lines.append("  per peer      " + columns.map { right($0.label, 12) }.joined())
            for (name, counts) in peers.sorted(by: { $0.key < $1.key }) {
                lines.append("  " + pad(name, 14) + columns.map { right(counts[$0], 12) }.joined())
            }
        }
        if !autoCeilings.isEmpty {
            lines.append("  auto ceilings (mss = \"auto\")")
            for auto in autoCeilings {
                let ceilings = "mss \(Ceilings(ipv4: auto.mss4, ipv6: auto.mss6))"
                let mtu = auto.pathMTU.map { "  path MTU \($0)" } ?? ""
                let at = auto.at.map { "  at \(UTCTimestamp.text(Date(timeIntervalSince1970: $0)))" } ?? ""
                lines.append("    " + pad(auto.peer, 28) + pad(auto.address, 18) + pad(auto.state, 11) + ceilings + mtu + at)
            }
        }
        if let strongswan {
            let since = strongswan.since.map { " since \(UTCTimestamp.text(Date(timeIntervalSince1970: $0)))" } ?? ""
            if strongswan.connected {
                lines.append("  strongswan    following charon on \(strongswan.socket)\(since): \(strongswan.sas.count) CHILD_SA(s)")
            } else {
                lines.append(
                    "  strongswan    NOT CONNECTED to \(strongswan.socket)\(since): \(strongswan.error ?? "?"); retrying, the last \(strongswan.sas.count) SA(s) stay in force")
            }
            for sa in strongswan.sas {
                let link = sa.linkMTU.map { "link \($0) (\(sa.linkSource))" } ?? "no link MTU"
                let ceilings = "mss \(Ceilings(ipv4: sa.mss4, ipv6: sa.mss6))"
                lines.append("    " + pad(sa.peer, 28) + pad("\(sa.connection) #\(sa.childID)", 14) + pad(sa.proposal, 40) + pad(link, 24) + ceilings
                    + (sa.assumed.map { "  (\($0))" } ?? ""))
            }
        }
        if let holes = blackHoles {
            let signatures = holes.signatures.values.reduce(0, +)
            let lowered = holes.lowered.values.reduce(0, +)
            lines.append(
                "  black holes   \(holes.samples) segment samples (table inet \(holes.table), NFLOG group \(holes.group)): "
                    + "\(signatures) signature(s), \(lowered) ceiling(s) lowered, \(holes.dismissed) dismissed")
            for (peer, count) in holes.lowered.sorted(by: { $0.key < $1.key }) {
                lines.append("    " + pad(peer, 28) + "\(count) lowered")
            }
            for item in holes.detected {
                lines.append("    " + pad(item.address, 28) + "mss \(Ceilings(ipv4: item.mss4, ipv6: item.mss6))  \(item.note)")
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
