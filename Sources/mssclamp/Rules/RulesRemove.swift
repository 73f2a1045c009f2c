import ArgumentParser
import MSSPolicy
import MSSRules

extension MSSClamp.Rules {
    /// `mssclamp rules remove`: removes every rule mssclamp installed.
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
                if !keepNet { SamplingRules.removeAll() }
                return
            }
            switch options.backend {
            case .iptables:
                let instance = try options.instance()
                let rules = try options.ruleSet(instance)
                let keep = keepNet || !options.safetyNet
                try ruleStep { () throws(RuleError) in try rules.remove(keepNet: keep) }
                // The black-hole sampler stays, empty, when the daemon stops (deleting its chains would drop
                // every SYN queued in the namespace); it goes with the net, and a killed daemon's with it.
                if !keep { SamplingRules.remove(table: instance.sampleTable) }
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
}
