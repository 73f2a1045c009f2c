import ArgumentParser
import MSSPolicy
import MSSRules

/// The firewall backends `mssclamp rules` renders for.
enum RuleBackend: String, ExpressibleByArgument, CaseIterable {
    /// iptables + ip6tables (nf_tables or legacy, whichever is active): NFQUEUE to the daemon.
    case iptables
    /// `table inet mssclamp` with the nft `queue` statement: needs CONFIG_NFT_QUEUE.
    case nftables
    /// The policy compiled into nft interval maps: the kernel clamps per peer, no daemon.
    case nftMap = "nft-map"
}

/// Options every `rules` subcommand takes, so one command line works for show, apply, verify and
/// remove alike.
struct RuleOptions: ParsableArguments {
    @Option(help: "iptables (the default: NFQUEUE to the daemon, with the kernel safety net behind it), nftables (needs CONFIG_NFT_QUEUE) or nft-map (the kernel alone).")
    var backend: RuleBackend = .iptables

    @Flag(
        inversion: .prefixedNo,
        help: "With the iptables backend, also install the kernel safety net (table inet mssclamp_net, or mssclamp_net_NAME for another --instance): SYNs the queue does not take are clamped by the kernel to their peer's ceiling. Default: on.")
    var safetyNet = true

    @OptionGroup var ceilings: CeilingOptions
    @OptionGroup var queueOptions: QueueOptions

    /// The policy in force (file or --mss, with the command line's settings over it), the spec of the
    /// NFQUEUE rules and the compiled policy of the net.
    func resolve() throws -> (configuration: PolicyConfiguration, spec: RuleSpec, policy: NftPolicy) {
        var overrides = PolicyOverrides()
        ceilings.addOverrides(to: &overrides)
        queueOptions.addOverrides(to: &overrides)
        let configuration = overrides.applied(to: try ceilings.configuration())
        var spec = RuleSpec(queue: configuration.queue, policy: try compile(configuration))
        spec.safetyNet = safetyNet
        return (configuration, spec, NftPolicy(defaults: configuration.defaults, peers: configuration.peers))
    }

    /// The nft script for the nftables or nft-map backend.
    func nftScript(_ configuration: PolicyConfiguration, _ spec: RuleSpec) -> (script: String, notes: [String]) {
        if backend == .nftMap {
            let compiled = NftablesRules.mapScript(configuration, hooks: spec.hooks)
            return (compiled.script, compiled.notOffloaded)
        }
        return (NftablesRules.queueScript(spec), [])
    }

    /// The iptables rules and the net of `instance`, through the active iptables variant.
    func ruleSet(_ instance: Instance) throws -> RuleSet {
        RuleSet(iptables: try ruleStep { () throws(RuleError) in try IptablesBackend.detect() }, instance: instance)
    }

    /// Whose rules: --instance, else the file's [queue] instance (when --config is given), else the queue
    /// range. Needs no ceilings, so `remove` works with the queue options alone.
    func instance() throws -> Instance {
        var overrides = PolicyOverrides()
        queueOptions.addOverrides(to: &overrides)
        let base = ceilings.configPath == nil ? PolicyConfiguration() : try ceilings.configuration()
        return overrides.applied(to: base).queue.instanceValue
    }

    /// Stops with exit 69 when the nftables queue backend cannot run on this kernel.
    func requireNftQueue() throws {
        guard backend == .nftables else { return }
        guard try ruleStep({ () throws(RuleError) in try NftablesBackend.queueSupported() }) else {
            throw fail(NftablesBackend.noQueueMessage, code: 69)
        }
    }
}

/// Runs a rule operation, turning its error into the exit code.
func ruleStep<T>(_ body: () throws(RuleError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw fail(error.message, code: error.exitCode)
    }
}
