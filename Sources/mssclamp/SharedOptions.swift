import ArgumentParser
import MSSPolicy
import MSSRules

/// Options shared by `run` and `rules`: where packets are queued and which hooks jump to the chain.
/// Each one given replaces the file's `[queue]` value (`PolicyOverrides`).
struct QueueOptions: ParsableArguments {
    @Option(help: "NFQUEUE number, or a range N-M for one worker per queue (rules use --queue-balance). Default: the file's [queue] num, else 0.") var queue: String?

    @Option(help: "Hooks that jump to the mssclamp chain: forward, output, prerouting, postrouting (comma list). Default: the file's [queue] hooks, else forward.") var hooks: String?

    @Flag(
        inversion: .prefixedNo,
        help: "With a queue range, spread packets by CPU (--queue-cpu-fanout) instead of by flow. Default: the file's [queue] cpu_fanout, else off.")
    var cpuFanout: Bool?

    @Option(help: "Instance name (1-10 of letters, digits, _ and -): names the chain, safety net, liveness list and control socket, so several daemons share a host. Default: the file's [queue] instance, else the queue range (\"0\" keeps the single-instance names).") var instance: String?

    @Option(
        name: .customLong("interface"),
        help: "Scope the instance to SYNs that enter or leave through this interface (repeat for several): its queue jump and its safety net act on nothing else, so several instances can each own their tunnels. Default: the file's [queue] interfaces, else every SYN (one such instance per host).")
    var interfaces: [String] = []

    @Option(help: "SYNs per second the queue takes (run): while more come, the daemon sheds, queuing a sample and leaving the rest to the kernel safety net, which clamps them (0: never shed). Default: the file's [queue] rate, else \(QueueDefaults.rate).") var queueRate: Int?

    @Option(help: "SYNs above the rate the queue takes before the daemon sheds (run). Default: the file's [queue] burst, else \(QueueDefaults.burst).") var queueBurst: Int?

    func validate() throws {
        if let queueRate, !ValueRange.queueRate.contains(queueRate) {
            throw ValidationError("--queue-rate must be \(ValueRange.queueRate.within)")
        }
        if let queueBurst, !ValueRange.queueBurst.contains(queueBurst) {
            throw ValidationError("--queue-burst must be \(ValueRange.queueBurst.within)")
        }
        if let queue, QueueRange(parsing: queue) == nil {
            throw ValidationError(
                "--queue must be N or N-M with N <= M <= \(ValueRange.queueNumber.upperBound), got '\(queue)'")
        }
        if let instance, Instance(name: instance) == nil {
            throw ValidationError("--instance takes 1-10 of letters, digits, _ and -, got '\(instance)'")
        }
        for name in interfaces where !InterfaceName.isValid(name) {
            throw ValidationError("--interface takes an interface name (\(InterfaceName.rule)), got '\(name)'")
        }
        if let hooks, Hook.parseList(hooks) == nil {
            throw ValidationError("--hooks takes forward, output, prerouting, postrouting; got '\(hooks)'")
        }
    }

    func addOverrides(to overrides: inout PolicyOverrides) {
        if let queue { overrides.queueNumbers = queue }
        if let hooks { overrides.hooks = Hook.parseList(hooks)?.map(\.rawValue) }
        if let cpuFanout { overrides.cpuFanout = cpuFanout }
        if let queueRate { overrides.rate = queueRate }
        if let queueBurst { overrides.burst = queueBurst }
        if let instance { overrides.instance = instance }
        if !interfaces.isEmpty { overrides.interfaces = interfaces }
    }
}

/// Where the policy comes from: a policy file, or ceilings on the command line.
struct CeilingOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "Policy file (TOML): defaults, queue settings and [[peer]] entries.") var configPath: String?

    @Option(help: "MSS ceiling for IPv4 SYNs (\(ValueRange.mss)).") var mss: Int?

    @Option(help: "MSS ceiling for IPv6 SYNs (default: the IPv4 ceiling minus 20).") var mss6: Int?

    @Flag(
        inversion: .prefixedNo,
        help: "Insert an MSS option into SYNs that carry none (default: the file's insert_missing, else on).")
    var insert: Bool?

    func validate() throws {
        if let mss, !ValueRange.mss.contains(mss) {
            throw ValidationError("--mss must be \(ValueRange.mss.within), got \(mss)")
        }
        if let mss6, !ValueRange.mss.contains(mss6) {
            throw ValidationError("--mss6 must be \(ValueRange.mss.within), got \(mss6)")
        }
        if configPath != nil && (mss != nil || mss6 != nil) {
            throw ValidationError("give either --config FILE or --mss/--mss6, not both")
        }
        if mss == nil && mss6 != nil { throw ValidationError("--mss6 needs --mss") }
    }

    var hasPolicy: Bool { configPath != nil || mss != nil }

    /// The policy as given: the file's (errors printed, exit 65), or defaults from --mss/--mss6. The
    /// overrides are not applied here.
    func configuration() throws -> PolicyConfiguration {
        if let configPath {
            do {
                return try PolicyConfiguration.load(path: configPath)
            } catch {
                throw fail(error.description, code: 65)
            }
        }
        guard let mss else { throw fail("give --config FILE or --mss N", code: 64) }
        let ipv6 = mss6.map(UInt16.init) ?? Ceilings.ipv6Default(forIPv4: UInt16(mss))
        return PolicyConfiguration(defaults: Ceilings(ipv4: UInt16(mss), ipv6: ipv6))
    }

    func addOverrides(to overrides: inout PolicyOverrides) {
        if let insert { overrides.insertMissing = insert }
    }
}

/// Compiles a policy, turning conflicts into exit 65.
func compile(_ configuration: PolicyConfiguration) throws -> PolicySnapshot {
    do {
        return try PolicySnapshot(version: 1, configuration: configuration)
    } catch {
        throw fail(error.description, code: 65)
    }
}
