/// Settings given on the command line. Each one that is set replaces the file's value, when the daemon
/// starts and again at every reload, so `--no-fail-open` stays in force after a SIGHUP.
public struct PolicyOverrides: Sendable, Hashable {
    public var insertMissing: Bool?
    public var dropMalformed: Bool?
    public var failOpen: Bool?
    public var cpuFanout: Bool?
    /// "N" or "N-M".
    public var queueNumbers: String?
    public var hooks: [String]?
    public var maxlen: Int?
    public var batch: Int?
    public var rate: Int?
    public var burst: Int?
    public var instance: String?
    public var interfaces: [String]?
    public var controlSocket: String?

    public init() {}

    /// `configuration` with the overrides in place.
    public func applied(to configuration: PolicyConfiguration) -> PolicyConfiguration {
        var result = configuration
        if let insertMissing { result.insertMissing = insertMissing }
        if let dropMalformed { result.dropMalformed = dropMalformed }
        if let failOpen { result.queue.failOpen = failOpen }
        if let cpuFanout { result.queue.cpuFanout = cpuFanout }
        if let queueNumbers { result.queue.num = queueNumbers }
        if let hooks { result.queue.hooks = hooks }
        if let maxlen { result.queue.maxlen = maxlen }
        if let batch { result.queue.batch = batch }
        if let rate { result.queue.rate = rate }
        if let burst { result.queue.burst = burst }
        if let instance { result.queue.instance = instance }
        if let interfaces { result.queue.interfaces = interfaces }
        if let controlSocket {
            result.controlSocket = controlSocket
            result.controlSocketGiven = true
        }
        return result
    }
}

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
    public static let batch = 64
}
