import Foundation
import MSSPolicy

/// A queue number or a range of them, as `--queue 0` or `--queue 0-3` (one worker per queue).
public struct QueueRange: Sendable, Hashable, CustomStringConvertible, Codable {
    public var first: UInt16
    public var last: UInt16

    public init(first: UInt16, last: UInt16) {
        precondition(first <= last, "queue range must not be reversed")
        self.first = first
        self.last = last
    }

    /// Parses "N" or "N-M" (also "N:M"); nil when it is not a valid range.
    public init?(parsing text: String) {
        let parts = text.split(whereSeparator: { $0 == "-" || $0 == ":" }).map(String.init)
        guard (1...2).contains(parts.count), let first = UInt16(parts[0]),
            let last = parts.count == 2 ? UInt16(parts[1]) : first, first <= last
        else { return nil }
        self.init(first: first, last: last)
    }

    public var queues: [UInt16] { Array(first...last) }
    public var count: Int { Int(last) - Int(first) + 1 }
    public var description: String { first == last ? "\(first)" : "\(first)-\(last)" }
}

/// The netfilter hooks mssclamp's chain is jumped to from.
public enum Hook: String, Sendable, Hashable, CaseIterable, Codable {
    /// Forwarded traffic: VPN clients and sites behind this router. The default.
    case forward
    /// Connections this host opens itself.
    case output
    /// Traffic arriving for this host, before routing.
    case prerouting
    /// Everything leaving, forwarded or local.
    case postrouting

    public var chain: String { rawValue.uppercased() }

    /// Parses "forward,output".
    public static func parseList(_ text: String) -> [Hook]? {
        let hooks = text.split(separator: ",").map { Hook(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased()) }
        guard !hooks.isEmpty, hooks.allSatisfy({ $0 != nil }) else { return nil }
        var unique: [Hook] = []
        for case let hook? in hooks where !unique.contains(hook) { unique.append(hook) }
        return unique
    }
}

/// Everything needed to render mssclamp's NFQUEUE rules.
public struct RuleSpec: Sendable, Hashable {
    public var queues: QueueRange
    /// The lowest ceiling per family; SYNs whose MSS is above it are queued. nil: that family is not queued.
    public var lowest: Ceilings
    /// Also queue SYNs that carry no MSS option, so one can be inserted.
    public var insertMissing: Bool
    public var hooks: [Hook]
    /// With a queue range, spread by CPU instead of by flow hash (`--queue-cpu-fanout`).
    public var cpuFanout: Bool
    /// The dedicated chain in the mangle table.
    public var chain: String
    public static let defaultChain = "MSSCLAMP"

    public init(
        queues: QueueRange, lowest: Ceilings, insertMissing: Bool = true, hooks: [Hook] = [.forward],
        cpuFanout: Bool = false, chain: String = RuleSpec.defaultChain
    ) {
        self.queues = queues
        self.lowest = lowest
        self.insertMissing = insertMissing
        self.hooks = hooks
        self.cpuFanout = cpuFanout
        self.chain = chain
    }
}
