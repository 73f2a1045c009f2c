import MSSControl
import MSSWire

/// Counters a worker keeps for itself while it runs a batch: fixed-size, no heap, no locks. The keys come
/// from the counter table (`Counter`) and the rewrite's own enums.
struct LocalCounters {
    var counts = CounterSlots<Counter>()
    var outcomes = CounterSlots<OutcomeKind>()
    var malformed = CounterSlots<MalformedReason>()
    var missingMSS = CounterSlots<MissingMSSReason>()

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
