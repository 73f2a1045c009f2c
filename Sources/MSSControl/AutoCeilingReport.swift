import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An auto peer's ceiling, as `stats` and the metrics show it.
public struct AutoCeilingReport: Sendable, Codable, Hashable {
    public var peer: String
    public var template: String
    public var address: String
    /// "measuring", "measured" or "fallback".
    public var state: String
    public var mss4: UInt16?
    public var mss6: UInt16?
    public var pathMTU: Int?
    /// Seconds since the epoch of the last measurement or fallback.
    public var at: Double?

    public init(
        peer: String, template: String, address: String, state: String, mss4: UInt16?, mss6: UInt16?, pathMTU: Int? = nil,
        at: Double? = nil
    ) {
        self.peer = peer
        self.template = template
        self.address = address
        self.state = state
        self.mss4 = mss4
        self.mss6 = mss6
        self.pathMTU = pathMTU
        self.at = at
    }
}

/// Times as reports show them: UTC, to the second, ISO 8601 ("2026-12-03T18:25:34Z").
public enum UTCTimestamp {
    public static func text(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
