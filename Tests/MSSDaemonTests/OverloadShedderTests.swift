import MSSDaemon
import MSSRules
import Testing

@Suite("overload shedding decisions")
struct OverloadShedderTests {
    /// `rate` SYN/s offered for `seconds`, in 250 ms checks; the queue sees 1 in 2^shift of them.
    func offer(_ shedder: inout OverloadShedder, _ rate: Double, seconds: Double) -> [Int] {
        var changes: [Int] = []
        for _ in 0..<Int(seconds * 4) {
            // Nothing queued: the safety net's count is the offered rate.
            let change = shedder.shift == RuleSpec.shedAll
                ? shedder.observe(offered: rate, milliseconds: 250)
                : shedder.observe(queued: UInt64(rate / 4 / Double(1 << shedder.shift)), milliseconds: 250)
            if let change { changes.append(change) }
        }
        return changes
    }

    @Test func aBurstWithinTheBucketIsNotShed() {
        var shedder = OverloadShedder(rate: 10_000, burst: 50_000)
        // 48,000 SYNs in a quarter second, then quiet: the bucket takes them.
        #expect(shedder.observe(queued: 48_000, milliseconds: 250) == nil)
        #expect(offer(&shedder, 100, seconds: 5).isEmpty)
        #expect(shedder.shift == 0)
    }

    @Test func aFloodIsShedToAQuarterOfTheRateAndEnds() {
        var shedder = OverloadShedder(rate: 10_000, burst: 50_000)
        #expect(offer(&shedder, 5_000, seconds: 10).isEmpty, "under the rate: never shed")
        let start = offer(&shedder, 100_000, seconds: 2)
        #expect(!start.isEmpty)
        // 100,000 / 2^6 = 1,563 SYN/s queued: under a quarter of the rate (2,500), and 2^5 would not be.
        #expect(shedder.shift == 6)
        #expect(offer(&shedder, 100_000, seconds: 5).isEmpty, "a steady flood changes nothing")
        // Over 16 times the rate nothing is queued; coming back needs two checks.
        #expect(offer(&shedder, 1_000_000, seconds: 0.25) == [RuleSpec.shedAll])
        #expect(offer(&shedder, 1_000_000, seconds: 5).isEmpty)
        #expect(offer(&shedder, 100_000, seconds: 0.5) == [6])
        // A smaller flood: the shift comes down, but only after two checks agree.
        var changes = offer(&shedder, 40_000, seconds: 0.25)
        #expect(changes.isEmpty && shedder.shift == 6)
        changes = offer(&shedder, 40_000, seconds: 0.25)
        #expect(changes == [4])
        // Over: under half the rate for two checks, every SYN is queued again.
        #expect(offer(&shedder, 1_000, seconds: 1) == [0])
        #expect(offer(&shedder, 1_000, seconds: 5).isEmpty)
    }

    @Test func aRiseIsFollowedAtOnceAndTheLargestShiftIsBounded() {
        var shedder = OverloadShedder(rate: 1_000, burst: 1_000)
        _ = offer(&shedder, 2_000, seconds: 1)
        let before = shedder.shift
        #expect(before > 0)
        #expect(offer(&shedder, 15_000, seconds: 0.25).first ?? 0 > before)
        #expect(shedder.shift <= IptablesRules.maximumSampleShift)
        _ = offer(&shedder, 1_000_000_000, seconds: 1)
        #expect(shedder.shift == RuleSpec.shedAll)
    }

    @Test func aFailedChangeIsForgotten() {
        var shedder = OverloadShedder(rate: 1_000, burst: 1_000)
        _ = offer(&shedder, 100_000, seconds: 1)
        #expect(shedder.shift > 0)
        shedder.revert(to: 0)
        #expect(shedder.shift == 0)
    }
}
