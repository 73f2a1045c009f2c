// The queue's defaults, next to its ranges (`ValueRange.queueMaxlen`, `.queueBatch`, `.queueRate`,
// `.queueBurst` in ValueRanges.swift) and its numbers (QueueRange.swift): what a queue gets when neither the
// command line nor the policy file says.

/// The queue settings in force when neither the command line nor the file gives them.
public enum QueueDefaults {
    /// A SYN the queue cannot take is accepted (and met by the kernel safety net) rather than dropped.
    public static let failOpen = true
    /// Room for a 50,000-SYN burst (the shedding's burst) with a margin.
    public static let maxlen = 65536
    /// SYNs per second the queue takes before the daemon sheds (`OverloadShedder`): above what a VPN
    /// server opens, a few thousand connections a second.
    public static let rate = 10_000
    /// SYNs above the rate the queue takes before shedding starts: a 50,000-SYN burst reaches the daemon whole.
    public static let burst = 50_000
    /// Datagrams taken per recvmmsg call: a burst is read in few calls, a lone SYN is not kept waiting.
    public static let batch = 64
}
