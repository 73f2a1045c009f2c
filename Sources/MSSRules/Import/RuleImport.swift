import Foundation
import MSSPolicy
import MSSWire

/// `mssclamp rules import` from start to end: reads iptables-save output, translates its TCPMSS rules
/// (`TCPMSSImport`), validates and writes the policy, and with `--replace` swaps the translated rules for
/// mssclamp's in one iptables-restore transaction per family. The command line only parses and prints.
public struct RuleImport: Sendable {
    /// What the translation made of the input.
    public let translation: TCPMSSImport.Result
    /// The imported policy, validated.
    public let configuration: PolicyConfiguration

    /// Reads `file` ("-": standard input) and translates it.
    /// - Parameter policyName: the name the policy is validated under (the output file, when there is one).
    /// - Parameter report: called with the translation before it is validated, so the operator learns
    ///   which rules were not translated even when the policy does not validate.
    /// - Throws: `RuleError` 66 when the file cannot be read, 65 when the policy does not validate.
    public init(file: String, policyName: String, report: (TCPMSSImport.Result) -> Void = { _ in })
        throws(RuleError)
    {
        let text: String
        if file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw RuleError("cannot read \(file)", exitCode: 66)
            }
            text = contents
        }
        let translation = TCPMSSImport.translate(text, source: file == "-" ? "standard input" : file)
        report(translation)
        do {
            configuration = try PolicyConfiguration.parse(translation.policy, file: policyName)
        } catch {
            throw RuleError("the imported policy does not validate:\n\(error)\n\(translation.policy)", exitCode: 65)
        }
        self.translation = translation
    }

    /// Writes the policy file (exit 73 when it cannot).
    public func writePolicy(to path: String) throws(RuleError) {
        do { try translation.policy.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw RuleError("cannot write \(path): \(error.localizedDescription)", exitCode: 73)
        }
    }

    /// What `replace` installed.
    public struct Replacement: Sendable {
        public var spec: RuleSpec
        /// Notes for the operator (the safety net's).
        public var notes: [String]
    }

    /// Applies mssclamp's iptables rules for the imported policy (with the command line's `overrides` over
    /// it) and deletes the translated TCPMSS rules in the same transaction per family. Refuses (65, nothing
    /// changed) while any rule was left untranslated or there is none to replace.
    public func replace(overrides: PolicyOverrides) throws(RuleError) -> Replacement {
        guard translation.untranslated.isEmpty else {
            throw RuleError(
                "not replacing: \(translation.untranslated.count) rule(s) could not be translated (see above); "
                    + "nothing was changed",
                exitCode: 65)
        }
        guard !translation.translated.isEmpty else { throw RuleError("no TCPMSS rules to replace", exitCode: 65) }
        let effective = overrides.applied(to: configuration)
        let snapshot: PolicySnapshot
        do { snapshot = try PolicySnapshot(version: 1, configuration: effective) } catch {
            throw RuleError(error.description, exitCode: 65)
        }
        let spec = RuleSpec(queue: effective.queue, policy: snapshot)
        var deleting: [IPFamily: [String]] = [:]
        for item in translation.translated { deleting[item.rule.family, default: []].append(item.rule.text) }
        let rules = RuleSet(iptables: try IptablesBackend.detect(), instance: spec.instance)
        let policy = NftPolicy(defaults: effective.defaults, peers: effective.peers)
        let notes = try rules.apply(spec, policy: policy, deleting: deleting)
        return Replacement(spec: spec, notes: notes)
    }
}
