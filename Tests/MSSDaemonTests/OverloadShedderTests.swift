import MSSDaemon
import Testing

@Suite("overload shedding decisions")
struct OverloadShedderTests {
    /// `rate` SYN/s offered for `seconds`, in 250 ms checks; the queue sees 1 in 2^shift of them.
    func offer(_ shedder: inout OverloadShedder, _ rate: Double, seconds: Double) -> [Int] {
        var changes: [Int] = []
        for _ in 0..<Int(seconds * 4) {
            let queued = UInt64(rate / 4 / Double(1 << shedder.shift))
            if let change = shedder.observe(queued: queued, milliseconds: 250) { changes.append(change) }
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
        let start = offer(&shedder, 1_000_000, seconds: 2)
        #expect(!start.isEmpty)
        // 1,000,000 / 2^9 = 1,953 SYN/s queued: under a quarter of the rate (2,500), and 2^8 would not be.
        #expect(shedder.shift == 9)
        #expect(offer(&shedder, 1_000_000, seconds: 5).isEmpty, "a steady flood changes nothing")
        // A smaller flood: the shift comes down, but only after two checks agree.
        var changes = offer(&shedder, 40_000, seconds: 0.25)
        #expect(changes.isEmpty && shedder.shift == 9)
        changes = offer(&shedder, 40_000, seconds: 0.25)
        #expect(changes == [4])
        // Over: under half the rate for two checks, every SYN is queued again.
        #expect(offer(&shedder, 1_000, seconds: 1) == [0])
        #expect(offer(&shedder, 1_000, seconds: 5).isEmpty)
    }

    @Test func aRiseIsFollowedAtOnceAndTheLargestShiftIsBounded() {
        var shedder = OverloadShedder(rate: 1_000, burst: 1_000)
        _ = offer(&shedder, 20_000, seconds: 1)
        let before = shedder.shift
        #expect(before > 0)
        #expect(offer(&shedder, 10_000_000, seconds: 0.25).first ?? 0 > before)
        _ = offer(&shedder, 1_000_000_000, seconds: 1)
        #expect(shedder.shift == 11)
    }

    @Test func aFailedChangeIsForgotten() {
        var shedder = OverloadShedder(rate: 1_000, burst: 1_000)
        _ = offer(&shedder, 100_000, seconds: 1)
        #expect(shedder.shift > 0)
        shedder.revert(to: 0)
        #expect(shedder.shift == 0)
    }
}
