import Logging
import MSSPolicy
import MSSWire

#if canImport(Glibc)
    import Glibc
#endif

/// One log line per clamp or insertion (peer, addresses, old -> new MSS), at most `perSecond` lines a
/// second per worker; what is over the limit is counted and reported with the next line.
final class ClampAudit: @unchecked Sendable {
    private let logger: Logger
    private let perSecond: Int
    private var second: Int = 0
    private var used = 0
    private var suppressed = 0

    init(logger: Logger, perSecond: Int) {
        self.logger = logger
        self.perSecond = perSecond
    }

    func record(_ outcome: RewriteOutcome, peer: String, packet: UnsafeRawBufferPointer) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        if now.tv_sec != second {
            second = now.tv_sec
            used = 0
        }
        guard used < perSecond else {
            suppressed += 1
            return
        }
        used += 1
        guard packet.count >= 40 || (packet.count >= 20 && packet[0] >> 4 == 4) else { return }
        let source: String
        let destination: String
        if packet[0] >> 4 == 4 {
            source = IPv4Prefix.text(IPv4Prefix.load(from: packet, offset: 12))
            destination = IPv4Prefix.text(IPv4Prefix.load(from: packet, offset: 16))
        } else {
            source = IPv6Prefix.text(IPv6Prefix.load(from: packet, offset: 8))
            destination = IPv6Prefix.text(IPv6Prefix.load(from: packet, offset: 24))
        }
        let change: String
        switch outcome {
        case .clamped(let from, let to, _): change = "mss \(from) -> \(to)"
        case .clampedMalformed(let from, let to, _, let reason): change = "mss \(from) -> \(to) (malformed: \(reason))"
        case .inserted(let mss): change = "mss inserted \(mss)"
        default: change = "\(outcome.kind)"
        }
        let note = suppressed > 0 ? " (\(suppressed) more not logged)" : ""
        suppressed = 0
        logger.info("clamp peer=\(peer) \(source) -> \(destination) \(change)\(note)")
    }
}
