import MSSControl
import MSSWire

/// Counters a worker keeps for itself while it runs a batch: fixed-size, no heap, no locks. The keys come
/// from the counter table (`Counter`) and the rewrite's own enums.
struct LocalCounters {
    var counts = CounterTableSlots()
    var outcomes = OutcomeSlots()
    var malformed = MalformedSlots()
    var missingMSS = MissingMSSSlots()

    /// Adds another worker's or batch's counts.
    mutating func accumulate(_ other: LocalCounters) {
        counts.merge(other.counts)
        outcomes.add(other.outcomes)
        malformed.add(other.malformed)
        missingMSS.add(other.missingMSS)
    }

    @inline(__always)
    mutating func record(_ outcome: RewriteOutcome, tinyMSS: Bool) {
        outcomes.increment(outcome.kind)
        if tinyMSS { counts.increment(.tinyMSS) }
        switch outcome {
        case .malformed(let reason): malformed.increment(reason)
        case .clampedMalformed(_, _, _, let reason):
            malformed.increment(reason)
            counts.increment(.malformedClamped)
        case .missingMSS(let reason): missingMSS.increment(reason)
        default: break
        }
    }

    /// The counts with their names, as `Statistics` reports them.
    var statistics: Statistics {
        var result = Statistics()
        result.counters = counts
        for kind in OutcomeKind.allCases where outcomes[kind] > 0 { result.outcomes[kind.description] = outcomes[kind] }
        for reason in MalformedReason.allCases where malformed[reason] > 0 {
            result.malformed[reason.description] = malformed[reason]
        }
        for reason in MissingMSSReason.allCases where missingMSS[reason] > 0 {
            result.missingMSS[reason.description] = missingMSS[reason]
        }
        return result
    }
}

extension PeerCounters {
    /// Counts one SYN of this peer.
    @inline(__always)
    mutating func record(_ kind: OutcomeKind, tinyMSS: Bool) {
        counts.increment(.seen)
        switch kind {
        case .clamped: counts.increment(.clamped)
        case .alreadyLow: counts.increment(.alreadyLow)
        case .inserted: counts.increment(.inserted)
        case .malformed: counts.increment(.malformed)
        default: break
        }
        if tinyMSS { counts.increment(.tinyMSS) }
    }
}
