import Foundation
import MSSPolicy
import MSSWire

/// Applies and removes the iptables/ip6tables rules through the active variant.
public struct IptablesBackend: Sendable {
    public let variant: IptablesVariant

    public init(variant: IptablesVariant) {
        self.variant = variant
    }

    /// Detects the active variant.
    public static func detect() throws(RuleError) -> IptablesBackend {
        IptablesBackend(variant: try IptablesVariant.detect())
    }

    /// The current mangle table state of one family.
    public func installed(_ family: IPFamily, chain: String) throws(RuleError) -> IptablesRules.Installed {
        let save = try ToolRunner.run([variant.tool(family, "save"), "-t", "mangle"])
        guard save.status == 0 else {
            throw RuleError("\(variant.tool(family, "save")) failed: \(save.error)", exitCode: 69)
        }
        return IptablesRules.Installed(parsing: save.output, chain: chain)
    }

    /// Applies the rules for both families atomically per family. If the second family fails, the first
    /// is restored to its previous mangle table, so a failed apply leaves the previous state.
    /// - Parameter deleting: rules (as iptables-save prints them, "-A CHAIN ...") to delete from the mangle
    ///   table in the same transaction, per family: `rules import --replace` swaps TCPMSS rules for ours.
    public func apply(_ spec: RuleSpec, deleting: [IPFamily: [String]] = [:]) throws(RuleError) {
        var applied: [(IPFamily, IptablesRules.Installed)] = []
        for family in IPFamily.allCases {
            let before = try installed(family, chain: spec.chain)
            var script = IptablesRules.applyScript(spec, family: family, installed: before)
            if let rules = deleting[family], !rules.isEmpty {
                let deletions = rules.map { "-D " + $0.dropFirst(3) }.joined(separator: "\n")
                script = script.replacingOccurrences(of: "*mangle\n", with: "*mangle\n" + deletions + "\n")
            }
            let result = try ToolRunner.run([variant.tool(family, "restore"), "--noflush"], input: script)
            guard result.status == 0 else {
                for (done, state) in applied.reversed() { rollback(done, to: state, chain: spec.chain) }
                throw RuleError(
                    "\(variant.tool(family, "restore")) refused the rules (nothing was changed): "
                        + result.error.trimmingCharacters(in: .whitespacesAndNewlines), exitCode: 69)
            }
            applied.append((family, before))
        }
    }

    /// Removes every jump and the chain for both families.
    public func remove(chain: String) throws(RuleError) {
        for family in IPFamily.allCases {
            let before = try installed(family, chain: chain)
            guard let script = IptablesRules.removeScript(chain: chain, installed: before) else { continue }
            let result = try ToolRunner.run([variant.tool(family, "restore"), "--noflush"], input: script)
            guard result.status == 0 else {
                throw RuleError("\(variant.tool(family, "restore")) could not remove the rules: \(result.error)")
            }
            dropEmptyMangle(family)
        }
    }

    /// Differences between what is installed and what `spec` renders, one line each ("ipv4: missing rule
    /// ..."); empty when everything is in place.
    public func verify(_ spec: RuleSpec) throws(RuleError) -> [String] {
        var differences: [String] = []
        for family in IPFamily.allCases {
            let installed = try installed(family, chain: spec.chain)
            differences += IptablesRules.differences(spec, family: family, installed: installed)
        }
        return differences
    }

    /// After a removal with the nf_tables backend, an empty `mangle` table stays behind (iptables-nft
    /// creates the table and its base chains on first use and never deletes them). When nothing but
    /// empty built-in chains with an ACCEPT policy is left, the table is deleted so that `iptables-save`
    /// reads as before the rules were applied. Legacy tables cannot be unregistered; they are left.
    private func dropEmptyMangle(_ family: IPFamily) {
        guard variant == .nft, let save = try? ToolRunner.run([variant.tool(family, "save"), "-t", "mangle"]),
            save.status == 0
        else { return }
        let lines = save.output.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        guard lines.contains("*mangle") else { return }
        let builtins: Set<String> = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
        for line in lines where line != "*mangle" && line != "COMMIT" {
            guard line.hasPrefix(":") else { return }  // a rule: not empty
            let parts = line.dropFirst().split(separator: " ")
            guard parts.count >= 2, builtins.contains(String(parts[0])), parts[1] == "ACCEPT" else { return }
        }
        _ = try? ToolRunner.run(["nft", "delete", "table", family.nftName, "mangle"])
    }

    /// Restores the whole mangle table of `family` to a saved state.
    private func rollback(_ family: IPFamily, to state: IptablesRules.Installed, chain: String) {
        if state.mangleSection.isEmpty {
            // There was no mangle table: take out what the failed apply added.
            if let now = try? installed(family, chain: chain),
                let script = IptablesRules.removeScript(chain: chain, installed: now)
            {
                _ = try? ToolRunner.run([variant.tool(family, "restore"), "--noflush"], input: script)
            }
            return
        }
        _ = try? ToolRunner.run([variant.tool(family, "restore"), "-T", "mangle"], input: state.mangleSection + "\n")
    }
}
