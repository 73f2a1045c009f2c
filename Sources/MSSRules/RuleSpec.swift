import MSSPolicy

/// Everything needed to render mssclamp's NFQUEUE rules.
public struct RuleSpec: Sendable, Hashable {
    public var queues: QueueRange
    /// The lowest ceiling per family; SYNs whose MSS is above it are queued. nil: that family is not queued.
    public var lowest: Ceilings
    /// Also queue SYNs that carry no MSS option, so one can be inserted.
    public var insertMissing: Bool
    public var hooks: [Hook]
    /// With a queue range, spread by CPU instead of by flow hash (`--queue-cpu-fanout`).
    public var cpuFanout: Bool
    /// The dedicated chain in the mangle table.
    public var chain: String
    public static let defaultChain = "MSSCLAMP"

    public init(
        queues: QueueRange, lowest: Ceilings, insertMissing: Bool = true, hooks: [Hook] = [.forward],
        cpuFanout: Bool = false, chain: String = RuleSpec.defaultChain
    ) {
        self.queues = queues
        self.lowest = lowest
        self.insertMissing = insertMissing
        self.hooks = hooks
        self.cpuFanout = cpuFanout
        self.chain = chain
    }
}

extension RuleSpec {
    /// The one place a rule spec is built, for `run --install-rules`, `rules show|apply|verify|remove` and
    /// `rules import --replace` alike: the queue settings (the command line's over the file's, see
    /// `PolicyOverrides`) and the compiled policy. Both were validated when they were read.
    public init(queue: QueueSettings, policy: PolicySnapshot) {
        self.init(
            queues: queue.range, lowest: policy.lowestCeilings, insertMissing: policy.insertMissing,
            hooks: queue.hookList, cpuFanout: queue.cpuFanout ?? false)
    }
}
