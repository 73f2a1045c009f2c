import MSSPolicy

/// Everything needed to render mssclamp's NFQUEUE rules.
public struct RuleSpec: Sendable, Hashable {
    public var queues: QueueRange
    /// The lowest ceiling per family. nil: no SYN of that family is ever clamped, so none is queued.
    public var lowest: Ceilings
    /// Insert an MSS option where a SYN has none (every SYN is queued either way).
    public var insertMissing: Bool
    public var hooks: [Hook]
    /// With a queue range, spread by CPU instead of by flow hash (`--queue-cpu-fanout`).
    public var cpuFanout: Bool
    /// The instance whose rules these are (its chain, net, liveness list and admission bucket).
    public var instance: Instance
    /// The dedicated chain in the mangle table.
    public var chain: String { instance.chain }
    /// Put the kernel safety net (`SafetyNet`) behind the queue rules.
    public var safetyNet = true
    /// Queue only while a daemon says it is alive (`Liveness`): a stopped daemon's SYNs go to the net.
    public var liveness = true
    /// SYNs per second the queue takes (a token bucket of `queueBurst`); beyond it SYNs go past the
    /// queue to the safety net, which clamps them in the kernel. nil: no limit.
    public var queueRate: Int? = QueueAdmission.defaultRate
    public var queueBurst: Int = QueueAdmission.defaultBurst
    public static let defaultChain = Instance.primary.chain

    public init(
        queues: QueueRange, lowest: Ceilings, insertMissing: Bool = true, hooks: [Hook] = [.forward],
        cpuFanout: Bool = false, instance: Instance = .primary
    ) {
        self.queues = queues
        self.lowest = lowest
        self.insertMissing = insertMissing
        self.hooks = hooks
        self.cpuFanout = cpuFanout
        self.instance = instance
    }
}

extension RuleSpec {
    /// The one place a rule spec is built, for `run --install-rules`, `rules show|apply|verify|remove` and
    /// `rules import --replace` alike: the queue settings (the command line's over the file's, see
    /// `PolicyOverrides`) and the compiled policy. Both were validated when they were read.
    public init(queue: QueueSettings, policy: PolicySnapshot) {
        self.init(
            queues: queue.range, lowest: policy.lowestCeilings, insertMissing: policy.insertMissing,
            hooks: queue.hookList, cpuFanout: queue.cpuFanout ?? false, instance: queue.instanceValue)
        if let rate = queue.rate { queueRate = rate == 0 ? nil : rate }
        if let burst = queue.burst { queueBurst = burst }
    }
}

extension RuleSpec {
    /// The same iptables rules (queue numbers, hooks, the families queued): what decides whether a
    /// policy change needs the rules rewritten.
    public func rendersLike(_ other: RuleSpec) -> Bool {
        queues == other.queues && hooks == other.hooks && cpuFanout == other.cpuFanout && instance == other.instance
            && queueRate == other.queueRate && queueBurst == other.queueBurst && liveness == other.liveness
            && (lowest.ipv4 == nil) == (other.lowest.ipv4 == nil) && (lowest.ipv6 == nil) == (other.lowest.ipv6 == nil)
    }
}

/// How many SYNs the queue takes (iptables' hashlimit, one bucket). Under a flood, a SYN costs the kernel
/// far less on its way through the safety net than through the queue and the daemon; past the rate, SYNs
/// skip the queue and the net clamps them (counted). The default rate is above what a VPN server opens (a
/// few thousand connections a second), and the burst lets a 50,000-SYN burst reach the daemon whole.
/// hashlimit refills per jiffy, so the rate it enforces is approximate (docs/rules.md, docs/benchmarks.md).
public enum QueueAdmission {
    public static let defaultRate: Int? = 10_000
    public static let defaultBurst = 50_000
}
