/// A queue number or a range of them, as `--queue 0` or `--queue 0-3` (one worker per queue).
public struct QueueRange: Sendable, Hashable, CustomStringConvertible, Codable {
    public var first: UInt16
    public var last: UInt16

    public init(first: UInt16, last: UInt16) {
        precondition(first <= last, "queue range must not be reversed")
        self.first = first
        self.last = last
    }

    /// Parses "N" or "N-M" (also "N:M", as iptables writes it); nil when it is not a valid range. The one
    /// parser of queue numbers: the command line and the policy file both use it.
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
        let hooks = text.split(separator: ",").map { name in
            Hook(rawValue: String(name.filter { $0 != " " && $0 != "\t" }).lowercased())
        }
        guard !hooks.isEmpty, hooks.allSatisfy({ $0 != nil }) else { return nil }
        var unique: [Hook] = []
        for case let hook? in hooks where !unique.contains(hook) { unique.append(hook) }
        return unique
    }
}

extension QueueSettings {
    /// `num`, or queue 0.
    public var range: QueueRange { num.flatMap(QueueRange.init(parsing:)) ?? QueueRange(first: 0, last: 0) }
    /// `hooks`, or forward.
    public var hookList: [Hook] { hooks.flatMap { Hook.parseList($0.joined(separator: ",")) } ?? [.forward] }
}
