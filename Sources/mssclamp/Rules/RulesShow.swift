import ArgumentParser
import MSSRules

extension MSSClamp.Rules {
    /// `mssclamp rules show`: prints what `apply` installs.
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
}
