#if canImport(Glibc)
    import Glibc
#endif
import MSSPolicy
import MSSQueue
import MSSRules

/// Everything `mssclamp run` needs.
public struct DaemonConfiguration: Sendable {
    /// The policy as read (the file, or the defaults --mss made), before the command line's overrides.
    public var policy: PolicyConfiguration
    /// The policy file, reread on SIGHUP (nil: the policy came from --mss).
    public var policyPath: String?
    /// Settings given on the command line; they win over the file's at start and at every reload.
    public var overrides = PolicyOverrides()
    /// Add the NFQUEUE rules (and the safety net) on start and remove the NFQUEUE rules on exit.
    public var installRules: Bool
    /// Put the kernel safety net behind the NFQUEUE rules (with `installRules`).
    public var safetyNet = true
    /// Gate the queue rules with the liveness switch. Its proc file is root's: a daemon started without
    /// root (with CAP_NET_ADMIN alone) could never refresh it, so it goes without (a stuck daemon then holds
    /// its SYNs until the watchdog replaces it). Decided once, before any privilege is dropped.
    public var liveness = geteuid() == 0
    /// Drop every capability but CAP_NET_ADMIN once the queues are bound (default on).
    public var dropPrivileges = true
    /// With `installRules`: the black-hole watch (its sampler table and NFLOG group). Default on.
    public var detect = true
    /// Also become this user (keeping CAP_NET_ADMIN).
    public var user: String?
    /// Serve Prometheus metrics on HOST:PORT.
    public var metricsAddress: String?
    /// Log at most this many clamps per second and worker (0: none).
    public var auditPerSecond = 0
    /// Socket buffer and receive timeout of the queues (the rest comes from the policy's [queue]).
    public var socketTuning = QueueConfiguration(
        maximumLength: UInt32(QueueDefaults.maxlen), failOpen: QueueDefaults.failOpen, batchSize: QueueDefaults.batch)

    public init(policy: PolicyConfiguration, policyPath: String? = nil, overrides: PolicyOverrides = PolicyOverrides(), installRules: Bool = false) {
        self.policy = policy
        self.policyPath = policyPath
        self.overrides = overrides
        self.installRules = installRules
    }

    /// The policy in force at start: the file's settings with the command line's on top.
    public var effective: PolicyConfiguration { overrides.applied(to: policy) }

    public var queues: QueueRange { effective.queue.range }
    /// The NFLOG group of the black-hole sampler: 19795 ("MS") above the first queue number, so that
    /// instances (whose queues differ) never share one, and clear of the low groups ulogd and
    /// `-j NFLOG` use by default.
    public var sampleGroup: UInt16 { UInt16(truncatingIfNeeded: 19_795 + Int(queues.first)) }
    /// Whose rules, net, liveness list and control socket these are (`[queue] instance`, else the queues).
    public var instance: Instance { effective.queue.instanceValue }
    public var hooks: [Hook] { effective.queue.hookList }

    /// How each queue is bound: length, fail-open and batch from the settings in force.
    public var queue: QueueConfiguration {
        let settings = effective.queue
        var queue = socketTuning
        queue.maximumLength = UInt32(settings.maxlen ?? QueueDefaults.maxlen)
        queue.failOpen = settings.failOpen ?? QueueDefaults.failOpen
        queue.batchSize = settings.batch ?? QueueDefaults.batch
        return queue
    }

    /// The control socket, nil for "none".
    public var controlSocket: String? {
        let settings = effective
        // A path from the file or the command line wins; otherwise each instance has its own.
        let path = settings.controlSocketGiven ? settings.controlSocket : instance.controlSocket
        return path == "none" ? nil : path
    }

    /// The rules for a policy snapshot: the queue settings the daemon started with (changing them needs
    /// a restart) and the snapshot's ceilings.
    public func ruleSpec(_ snapshot: PolicySnapshot) -> RuleSpec {
        var spec = RuleSpec(queue: effective.queue, policy: snapshot)
        spec.safetyNet = safetyNet
        spec.liveness = liveness
        return spec
    }
}

/// A failure that ends the daemon, with its exit code (sysexits).
public struct DaemonError: Error, CustomStringConvertible {
    public var message: String
    public var exitCode: Int32
    public var description: String { message }
}
