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
