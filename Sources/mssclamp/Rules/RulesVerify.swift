import ArgumentParser
import MSSControl
import MSSRules

extension MSSClamp.Rules {
    /// `mssclamp rules verify`: checks that the rules are in place.
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
}
