import MSSPolicy

extension IptablesRules {
    /// What `iptables-save -t mangle` shows of mssclamp.
    public struct Installed: Sendable, Hashable {
        public var chainExists = false
        /// Rules in the dedicated chain, in order.
        public var chainRules: [String] = []
        /// How many jumps each built-in chain has to the dedicated chain.
        public var jumps: [Hook: Int] { jumpLines.mapValues(\.count) }
        /// The jumps of each built-in chain to the dedicated chain, as saved.
        public var jumpLines: [Hook: [String]] = [:]
        /// The whole mangle section, for rollback.
        public var mangleSection: String = ""

        /// A mangle table without mssclamp's chain or jumps.
        public static let empty = Installed(parsing: "", chain: RuleSpec.defaultChain)

        public init(parsing save: String, chain: String) {
            var inMangle = false
            var section: [String] = []
            for line in save.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                if line.hasPrefix("*") {
                    inMangle = line == "*mangle"
                }
                if inMangle {
                    section.append(line)
                    if line.hasPrefix(":\(chain) ") { chainExists = true }
                    if line.hasPrefix("-A \(chain) ") { chainRules.append(line) }
                    for hook in Hook.allCases where IptablesRules.isJump(line, hook: hook, chain: chain) {
                        jumpLines[hook, default: []].append(line)
                    }
                    if line == "COMMIT" { inMangle = false }
                }
            }
            mangleSection = section.joined(separator: "\n")
        }
    }
}
