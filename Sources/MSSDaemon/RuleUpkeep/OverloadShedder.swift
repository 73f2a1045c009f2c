import MSSRules

/// When to shed, and how much: the decision alone, fed with what entered the queues, no I/O.
///
/// A token bucket of `burst` SYNs refilled at `rate` SYN/s is drained by every SYN the kernel queued.
/// Once it is empty the queue is taking more than the rate: shedding starts, and only 1 SYN in 2^shift is
/// queued, chosen at random by the kernel; the rest reach the safety net, which clamps them to their
/// peer's ceiling. While shedding, the offered rate is the queued rate times 2^shift, and the shift is
/// chosen so that about a quarter of the rate still reaches the daemon (its counters, its log, its exact
/// rewrite of duplicates and malformed options). Past `allAbove` times the rate even the sampling match
/// costs more than it tells (a rule every SYN meets costs a few percent of a flood's rate): nothing is
/// queued (`RuleSpec.shedAll`), and the offered rate is what the safety net counts. A higher shift takes
/// effect at once; a lower one only after two checks in a row want it; shedding ends when two checks
/// in a row see under half the rate.
/// (docs/design.md, "Overload shedding".)
public struct OverloadShedder: Sendable {
    public let rate: Double
    public let burst: Double
    public private(set) var shift = 0
    private var tokens: Double
    /// Lower shifts wanted by the previous check (nil: the previous check wanted no lower one).
    private var lowerWanted: Int?

    public init(rate: Int, burst: Int) {
        self.rate = Double(max(rate, 1))
        self.burst = Double(max(burst, 1))
        tokens = self.burst
    }

    /// Beyond this many times the rate, nothing is queued.
    public static let allAbove = 16.0

    /// The shift that leaves about a quarter of the rate queued when `offered` SYN/s come.
    func wanted(offered: Double) -> Int {
        if offered > rate * Self.allAbove { return RuleSpec.shedAll }
        let target = rate / 4
        var shift = 0
        while shift < IptablesRules.maximumSampleShift && offered / Double(1 << shift) > target { shift += 1 }
        return max(shift, 1)
    }

    /// One check: `queued` SYNs entered the queues in the last `milliseconds`. Returns the new shift when
    /// it changes.
    public mutating func observe(queued: UInt64, milliseconds: Int64) -> Int? {
        observe(offered: offered(queued: queued, milliseconds: milliseconds), milliseconds: milliseconds)
    }

    /// The SYN/s offered when `queued` entered the queues in `milliseconds` at the current shift.
    public func offered(queued: UInt64, milliseconds: Int64) -> Double {
        Double(queued) * Double(1 << min(shift, IptablesRules.maximumSampleShift)) * 1000 / Double(max(milliseconds, 1))
    }

    /// One check with the offered rate known (while nothing is queued: from the safety net's count).
    public mutating func observe(offered: Double, milliseconds: Int64) -> Int? {
        let seconds = Double(max(milliseconds, 1)) / 1000
        tokens = min(burst, tokens + rate * seconds) - offered * seconds
        if shift == 0 {
            guard tokens < 0 else { return nil }
            shift = wanted(offered: offered)
            lowerWanted = nil
            return shift
        }
        let next = offered < rate / 2 ? 0 : wanted(offered: offered)
        if next > shift {
            shift = next
            lowerWanted = nil
            return shift
        }
        guard next < shift else {
            lowerWanted = nil
            return nil
        }
        guard let previous = lowerWanted else {
            lowerWanted = next
            return nil
        }
        shift = max(previous, next)
        lowerWanted = nil
        // Leaving: an empty bucket (the flood drained it), refilled from now on; a new flood sheds again
        // once it has taken what came back.
        if shift == 0 { tokens = 0 }
        return shift
    }

    /// Back to `shift` (the rules could not be changed to what `observe` chose).
    public mutating func revert(to shift: Int) {
        self.shift = shift
        lowerWanted = nil
    }
}
