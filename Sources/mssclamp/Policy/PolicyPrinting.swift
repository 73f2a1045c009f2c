import Foundation

/// Prints `value` as sorted, indented JSON: the `--json` output of every subcommand.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// What a peer matches, as `check` and `peer list` print it: its prefixes, then "in IF", "out IF", "mark M".
func peerConditions(match: [String], inInterface: String?, outInterface: String?, fwmark: String?) -> [String] {
    var conditions = match
    if let name = inInterface { conditions.append("in \(name)") }
    if let name = outInterface { conditions.append("out \(name)") }
    if let mark = fwmark { conditions.append("mark \(mark)") }
    return conditions
}
