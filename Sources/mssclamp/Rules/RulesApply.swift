import ArgumentParser
import MSSRules

extension MSSClamp.Rules {
    /// `mssclamp rules apply`: installs the rules atomically.
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
}
