import ArgumentParser
import Foundation
import MSSDaemon
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

extension MSSClamp {
    struct Rules: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate, apply, verify and remove the firewall rules; import TCPMSS rules.",
            subcommands: [Show.self, Apply.self, Remove.self, Verify.self, Import.self])

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print exactly what `apply` installs, without changing anything.")
            @OptionGroup var options: RuleOptions

            func run() throws {
                let (configuration, spec, policy) = try options.resolve()
                switch options.backend {
                case .iptables:
                    if spec.safetyNet {
                        print("# nft -f -   (the safety net, installed first; the transaction deletes an older one)")
                        print(SafetyNet.script(policy, spec: spec), terminator: "")
                    }
                    // Exactly the scripts `apply` runs on a host without mssclamp's rules.
                    print("# iptables-restore --noflush")
                    print(IptablesRules.applyScript(spec, family: .ipv4, installed: .empty), terminator: "")
                    print("# ip6tables-restore --noflush")
                    print(IptablesRules.applyScript(spec, family: .ipv6, installed: .empty), terminator: "")
                case .nftables, .nftMap:
                    let (script, notes) = options.nftScript(configuration, spec)
                    print("# nft -f -")
                    print(script, terminator: "")
                    for note in notes { print("# not offloaded: \(note)") }
                }
            }
        }

        struct Apply: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Install the rules atomically; applying twice changes nothing, a failure changes nothing.")
            @OptionGroup var options: RuleOptions

            func run() throws {
                let (configuration, spec, policy) = try options.resolve()
                switch options.backend {
                case .iptables:
                    let rules = try options.ruleSet(spec.instance)
                    let notes = try ruleStep { () throws(RuleError) in try rules.apply(spec, policy: policy) }
                    print("applied with iptables-\(rules.iptables.variant.rawValue): \(spec.hooks.map(\.chain).joined(separator: ", ")) -> \(spec.chain), queue \(spec.queues)")
                    if spec.safetyNet && notes.isEmpty {
                        print("safety net: table inet \(spec.instance.netTable) (SYNs the queue does not take are clamped by the kernel)")
                    }
                    for note in notes { print(note) }
                case .nftables, .nftMap:
                    try options.requireNftQueue()
                    let (script, notes) = options.nftScript(configuration, spec)
                    try ruleStep { () throws(RuleError) in try NftablesBackend().apply(script) }
                    print("applied: table inet \(NftablesRules.table) (\(options.backend.rawValue))")
                    for note in notes { print("not offloaded: \(note)") }
                }
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Remove every rule mssclamp installed, leaving no residue.",
                discussion: "Takes every option `apply` takes, so the same command line works; removing needs no policy.")

            @OptionGroup var options: RuleOptions

            @Flag(help: "Leave the kernel safety net in place (the service's ExecStopPost: the kernel keeps clamping while the daemon is down).")
            var keepNet = false

            @Flag(help: "Remove the rules and nets of every instance installed in this network namespace (the package's removal does this), whatever started them.")
            var allInstances = false

            func run() throws {
                if allInstances {
                    let rules = try options.ruleSet(.primary)
                    for name in rules.installedInstances() {
                        guard let instance = Instance(name: name) else { continue }
                        let named = try options.ruleSet(instance)
                        try ruleStep { () throws(RuleError) in try named.remove(keepNet: keepNet) }
                        print("removed the rules of instance \(instance)")
                    }
                    return
                }
                switch options.backend {
                case .iptables:
                    let instance = try options.instance()
                    let rules = try options.ruleSet(instance)
                    let keep = keepNet || !options.safetyNet
                    try ruleStep { () throws(RuleError) in try rules.remove(keepNet: keep) }
                    // Another instance's rules are never touched; say they are there, in case they were meant.
                    let others = rules.installedInstances().filter { $0 != instance.name }
                    if !others.isEmpty {
                        var stderr = StandardError()
                        print("removed the rules of instance \(instance); instance(s) \(others.joined(separator: ", ")) keep theirs (`mssclamp rules remove --instance NAME`)", to: &stderr)
                    }
                case .nftables, .nftMap:
                    try ruleStep { () throws(RuleError) in try NftablesBackend().remove() }
                }
                print("removed")
            }
        }

        struct Verify: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Check that the rules are in place: exit 0, or print the differences and exit 1.")
            @OptionGroup var options: RuleOptions

            @Option(help: "The control socket of a running daemon of this instance (default: the policy's). While one answers, the safety net is compared with its policy, live and learned peers included.")
            var socket: String?

            func run() throws {
                let (configuration, spec, policy) = try options.resolve()
                let differences: [String]
                switch options.backend {
                case .iptables:
                    let rules = try options.ruleSet(spec.instance)
                    // A daemon of this instance that answers knows its live and learned peers: the net is
                    // compared with its policy, not the file's alone.
                    let running = try? ControlClient.send(ControlRequest(command: .netScript), to: socket ?? configuration.controlSocket, timeout: 5)
                    if let running, running.ok, let script = running.message, spec.safetyNet {
                        print("safety net compared with the policy of the daemon at \(socket ?? configuration.controlSocket)")
                        differences = try ruleStep { () throws(RuleError) in try rules.verify(spec, netScript: script) }
                    } else {
                        differences = try ruleStep { () throws(RuleError) in try rules.verify(spec, policy: policy) }
                    }
                case .nftables, .nftMap:
                    try options.requireNftQueue()
                    let (script, _) = options.nftScript(configuration, spec)
                    differences = try ruleStep { () throws(RuleError) in try NftablesBackend().verify(script) }
                }
                guard differences.isEmpty else {
                    for line in differences { print(line) }
                    print("rules are NOT as expected (\(differences.count) difference(s)); `mssclamp rules apply` restores them")
                    throw ExitCode(1)
                }
                print("rules in place")
            }
        }

        struct Import: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Translate TCPMSS rules from iptables-save / ip6tables-save output into a policy file.",
                discussion: """
                    Reads FILE (or standard input with '-' or no argument), writes the policy to --output (or \
                    prints it), and lists every rule it could not translate with the reason. With --replace it \
                    applies mssclamp's iptables rules for that policy and deletes the translated TCPMSS rules \
                    in the same iptables-restore transaction per family.
                    """)

            @Argument(help: "iptables-save output; '-' for standard input.")
            var file: String = "-"

            @Option(help: "Write the policy here instead of printing it.")
            var output: String?

            @Flag(help: "Swap the TCPMSS rules for mssclamp's NFQUEUE rules (atomically per family).")
            var replace = false

            @OptionGroup var queueOptions: QueueOptions

            func run() throws {
                let text: String
                if file == "-" {
                    text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                } else {
                    guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else {
                        throw fail("cannot read \(file)", code: 66)
                    }
                    text = contents
                }
                let result = TCPMSSImport.translate(text, source: file == "-" ? "standard input" : file)
                var stderr = StandardError()
                print("\(result.translated.count) TCPMSS rule(s) translated, \(result.untranslated.count) not", to: &stderr)
                for item in result.translated where !item.notes.isEmpty {
                    print("  line \(item.rule.line) -> \(item.peer ?? "[defaults]"):", to: &stderr)
                    for note in item.notes { print("    note: \(note)", to: &stderr) }
                }
                for item in result.untranslated {
                    print("  line \(item.rule.line) NOT translated: \(item.reason)\n    \(item.rule.text)", to: &stderr)
                }
                let configuration: PolicyConfiguration
                do {
                    configuration = try PolicyConfiguration.parse(result.policy, file: output ?? "imported policy")
                } catch {
                    throw fail("the imported policy does not validate:\n\(error)\n\(result.policy)", code: 65)
                }
                if let output {
                    do { try result.policy.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                        throw fail("cannot write \(output): \(error.localizedDescription)", code: 73)
                    }
                    print("policy written to \(output)", to: &stderr)
                } else {
                    print(result.policy, terminator: "")
                }
                guard replace else { return }
                guard result.untranslated.isEmpty else {
                    throw fail("not replacing: \(result.untranslated.count) rule(s) could not be translated (see above); nothing was changed", code: 65)
                }
                guard !result.translated.isEmpty else { throw fail("no TCPMSS rules to replace", code: 65) }
                var overrides = PolicyOverrides()
                queueOptions.addOverrides(to: &overrides)
                let effective = overrides.applied(to: configuration)
                let spec = RuleSpec(queue: effective.queue, policy: try compile(effective))
                var deleting: [IPTablesFamily: [String]] = [:]
                for item in result.translated { deleting[item.rule.family, default: []].append(item.rule.text) }
                let rules = RuleSet(iptables: try ruleStep { () throws(RuleError) in try IptablesBackend.detect() }, instance: spec.instance)
                let notes = try ruleStep { () throws(RuleError) in
                    try rules.apply(spec, policy: NftPolicy(defaults: effective.defaults, peers: effective.peers), deleting: deleting)
                }
                for note in notes { print(note, to: &stderr) }
                print("replaced \(result.translated.count) TCPMSS rule(s) with mssclamp's rules (queue \(spec.queues)); start `mssclamp run --config \(output ?? "FILE")`", to: &stderr)
            }
        }
    }
}
