import ArgumentParser
import MSSPolicy
import MSSRules

extension MSSClamp.Rules {
    /// `mssclamp rules import`: TCPMSS rules into a policy file (the work is `RuleImport`'s).
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Translate TCPMSS rules from iptables-save / ip6tables-save output into a policy file.",
            discussion: """
                Reads FILE (or standard input with '-' or no argument), writes the policy to --output (or \
                prints it), and lists every rule it could not translate with the reason. With --replace it \
                applies mssclamp's iptables rules for that policy and deletes the translated TCPMSS rules \
                in the same iptables-restore transaction per family.
                """)

        @Argument(help: "iptables-save output; '-' for standard input.") var file: String = "-"

        @Option(help: "Write the policy here instead of printing it.") var output: String?

        @Flag(help: "Swap the TCPMSS rules for mssclamp's NFQUEUE rules (atomically per family).") var replace = false

        @OptionGroup var queueOptions: QueueOptions

        func run() throws {
            var stderr = StandardError()
            let imported = try ruleStep { () throws(RuleError) in
                try RuleImport(file: file, policyName: output ?? "imported policy") { result in
                    Self.report(result, to: &stderr)
                }
            }
            let result = imported.translation
            if let output {
                try ruleStep { () throws(RuleError) in try imported.writePolicy(to: output) }
                print("policy written to \(output)", to: &stderr)
            } else {
                print(result.policy, terminator: "")
            }
            guard replace else { return }
            var overrides = PolicyOverrides()
            queueOptions.addOverrides(to: &overrides)
            let replacement = try ruleStep { () throws(RuleError) in try imported.replace(overrides: overrides) }
            for note in replacement.notes { print(note, to: &stderr) }
            print(
                "replaced \(result.translated.count) TCPMSS rule(s) with mssclamp's rules (queue "
                    + "\(replacement.spec.queues)); start `mssclamp run --config \(output ?? "FILE")`", to: &stderr)
        }

        /// What was translated, with the approximations made, and what was not, with the reason.
        static func report(_ result: TCPMSSImport.Result, to stderr: inout StandardError) {
            print("\(result.translated.count) TCPMSS rule(s) translated, \(result.untranslated.count) not", to: &stderr)
            for item in result.translated where !item.notes.isEmpty {
                print("  line \(item.rule.line) -> \(item.peer ?? "[defaults]"):", to: &stderr)
                for note in item.notes { print("    note: \(note)", to: &stderr) }
            }
            for item in result.untranslated {
                print("  line \(item.rule.line) NOT translated: \(item.reason)\n    \(item.rule.text)", to: &stderr)
            }
        }
    }
}
