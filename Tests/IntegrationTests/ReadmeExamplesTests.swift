import Foundation
import Testing
import TestSupport

/// Issue 13: the README's examples run as written. Its policies check, `rules show` prints the rule lines
/// the README shows, `calc` and `rewrite` print what it says. (The namespace-bound commands, apply/run/
/// peer/stats, are exercised by the other suites.)
struct ReadmeExamplesTests {
    static let readme = (try? String(contentsOfFile: Repository.root.appendingPathComponent("README.md").path, encoding: .utf8)) ?? ""

    /// The fenced blocks of the README with their language.
    static func blocks(_ language: String) -> [String] {
        var found: [String] = []
        var current: [String]?
        var fenced = false
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                if fenced {
                    if let block = current { found.append(block.joined(separator: "\n")) }
                    current = nil
                } else if line.dropFirst(3) == language {
                    current = []
                }
                fenced.toggle()
                continue
            }
            current?.append(String(line))
        }
        return found
    }

    func mssclamp(_ arguments: [String]) throws -> CommandResult {
        try Shell.run([BuiltProducts.mssclamp] + arguments, timeout: 30)
    }

    @Test func everyPolicyInTheReadmeChecks() throws {
        let policies = Self.blocks("toml")
        #expect(policies.count >= 2)
        for policy in policies {
            let file = try TemporaryFile(suffix: ".toml")
            try policy.write(toFile: file.path, atomically: true, encoding: .utf8)
            let result = try mssclamp(["check", "--config", file.path])
            #expect(result.succeeded, "\(policy)\n\(result.output)\(result.error)")
        }
    }

    @Test func rulesShowPrintsTheLinesTheReadmeShows() throws {
        let policy = try #require(Self.blocks("toml").first)
        let file = try TemporaryFile(suffix: ".toml")
        try policy.write(toFile: file.path, atomically: true, encoding: .utf8)
        let shown = try mssclamp(["rules", "show", "--config", file.path])
        #expect(shown.succeeded, "\(shown.error)")
        let example = try #require(Self.blocks("").first { $0.contains("iptables-restore --noflush") })
        for line in example.split(separator: "\n") where line != "..." {
            #expect(shown.output.split(separator: "\n").contains(line), "`rules show` does not print: \(line)")
        }
    }

    @Test func calcAndRewritePrintWhatTheReadmeSays() throws {
        // Step 3 of the deployment: the command runs and names the layers and the policy lines.
        let calc = try mssclamp(["calc", "--mtu", "1500", "--encap", "ipsec-esp-tunnel,nat-t", "--cipher", "aes-gcm-256"])
        #expect(calc.succeeded && calc.output.contains("policy ([[peer]]):"), "\(calc.output)\(calc.error)")
        // The capture example, from the repository's root as the README runs it.
        let example = try #require(Self.blocks("").first { $0.hasPrefix("$ mssclamp rewrite") })
        let lines = example.split(separator: "\n").map(String.init)
        let output = TemporaryFile(unusedSuffix: ".pcap")
        let arguments = lines[0].dropFirst(2).split(separator: " ").dropFirst().map(String.init).map {
            $0 == "clamped.pcap" ? output.path : $0.hasPrefix("examples/") ? Repository.root.appendingPathComponent($0).path : $0
        }
        let result = try mssclamp(arguments)
        #expect(result.succeeded, "\(result.error)")
        let printed = (result.output + result.error).split(separator: "\n").map { $0.replacingOccurrences(of: Repository.root.path + "/", with: "").replacingOccurrences(of: output.path, with: "clamped.pcap") }
        for line in lines.dropFirst() where line != "  ..." {
            #expect(printed.contains(line), "rewrite does not print: \(line)\n\(printed.joined(separator: "\n"))")
        }
    }
}
