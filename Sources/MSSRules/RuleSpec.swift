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
    /// The instance's scope (`[queue] interfaces`): only SYNs entering or leaving through these are
    /// queued and met by its net. Empty: every SYN.
    public var interfaces: [String] = []
    /// The dedicated chain in the mangle table.
    public var chain: String { instance.chain }
    /// Put the kernel safety net (`SafetyNet`) behind the queue rules.
    public var safetyNet = true
    /// Queue only while a daemon says it is alive (`Liveness`): a stopped daemon's SYNs go to the net.
    public var liveness = true
    /// Overload shedding: queue 1 SYN in 2^shift (iptables' `statistic` match, random mode, no shared
    /// state between CPUs); the rest go past the queue to the safety net, which clamps them in the kernel.
    /// The daemon sets it while more SYNs come than its `[queue] rate` (`OverloadShedder`). 0: every SYN
    /// is queued. nil: none is rendered, and verification accepts whatever shift a running daemon chose
    /// (`rules verify` from the command line).
    public var sampleShift: Int? = nil
    /// The shift that queues nothing: the jumps are taken out, and a marker rule in the chain says why
    /// (`IptablesRules.sheddingMarker`).
    public static let shedAll = IptablesRules.maximumSampleShift + 1
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
        interfaces = queue.interfaces ?? []
    }
}

extension RuleSpec {
    /// The same iptables rules (queue numbers, hooks, the families queued): what decides whether a
    /// policy change needs the rules rewritten.
    public func rendersLike(_ other: RuleSpec) -> Bool {
        queues == other.queues && hooks == other.hooks && interfaces == other.interfaces && cpuFanout == other.cpuFanout && instance == other.instance
            && (sampleShift ?? 0) == (other.sampleShift ?? 0) && liveness == other.liveness
            && (lowest.ipv4 == nil) == (other.lowest.ipv4 == nil) && (lowest.ipv6 == nil) == (other.lowest.ipv6 == nil)
    }
}
