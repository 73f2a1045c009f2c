#if canImport(Glibc)
    import Glibc
#endif

/// CLOCK_MONOTONIC in milliseconds: deadlines, heartbeats and rates, never wall time.
@inline(__always)
public func monotonicMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// CLOCK_MONOTONIC in nanoseconds: short intervals (a handshake's length).
@inline(__always)
public func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}
