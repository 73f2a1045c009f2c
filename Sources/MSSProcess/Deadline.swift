#if canImport(Glibc)
    import Glibc
#endif

/// A monotonic deadline.
package struct Deadline {
    let end: timespec

    package init(seconds: Double) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let whole = Int(seconds.rounded(.down))
        var nanoseconds = now.tv_nsec + Int((seconds - Double(whole)) * 1e9)
        var secondsPart = now.tv_sec + whole
        if nanoseconds >= 1_000_000_000 {
            nanoseconds -= 1_000_000_000
            secondsPart += 1
        }
        end = timespec(tv_sec: secondsPart, tv_nsec: nanoseconds)
        self.seconds = seconds
    }

    package let seconds: Double

    /// Milliseconds left, at least 0.
    package var remainingMilliseconds: Int32 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let left = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1_000_000
        return Int32(clamping: max(0, left))
    }
}
