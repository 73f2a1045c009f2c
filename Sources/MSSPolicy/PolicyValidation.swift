// Validating a parsed TOML document into a `PolicyConfiguration`: every key checked, every problem
// collected with its file, line and key, nothing of a bad file used. Here: the tables and the keys each
// may hold; the tables themselves are read in SettingsValidation.swift ([queue], [defaults], [control]),
// PeerValidation.swift and CeilingValidation.swift ([[peer]]), TemplateValidation.swift (templates),
// the typed values in ValueValidation.swift, and the peers as a set in PeerConflicts.swift.

/// Reads a parsed document, collecting diagnostics.
struct PolicyReader {
    let file: String
    var diagnostics: [PolicyDiagnostic] = []

    init(file: String) { self.file = file }

    static let sections: [String: Set<String>] = [
        "queue": ["num", "fail_open", "maxlen", "batch", "hooks", "cpu_fanout", "rate", "burst", "instance", "interfaces"],
        "defaults": ["mss4", "mss6", "insert_missing", "malformed"],
        "control": ["socket", "group"],
        "strongswan": ["socket"],
    ]
    static let peerKeys: Set<String> = [
        "name", "match", "in_interface", "out_interface", "fwmark", "mss", "mss6", "link_mtu", "encap", "cipher",
        "integrity", "wireguard", "learn_address", "learn_within", "learn_max", "learn_subnets",
        "strongswan", "detect",
    ]

    mutating func fail(_ line: Int, _ key: String, _ message: String) {
        diagnostics.append(PolicyDiagnostic(file: file, line: line, key: key, message: message))
    }

    mutating func read(_ document: TOMLDocument) -> PolicyConfiguration {
        var configuration = PolicyConfiguration(file: file)
        for entry in document.root.entries {
            fail(entry.line, entry.key, "keys belong in a table ([queue], [defaults], [control], [strongswan] or [[peer]])")
        }
        for (table, isArray) in document.tables {
            if table.name == "peer" {
                guard isArray else {
                    fail(table.line, "peer", "peers are [[peer]] (an array of tables), not [peer]")
                    continue
                }
                if ["wireguard", "learn_address", "learn_within", "learn_max", "learn_subnets", "strongswan"].contains(where: { table[$0] != nil }) {
                    if let template = readTemplate(table) { configuration.templates.append(template) }
                } else if let peer = readPeer(table) {
                    configuration.peers.append(peer)
                }
                continue
            }
            guard let keys = Self.sections[table.name], !isArray else {
                let known = (Self.sections.keys.sorted().map { "[\($0)]" } + ["[[peer]]"]).joined(separator: ", ")
                fail(table.line, table.name, "unknown table; known: \(known)\(suggestion(table.name, Set(Self.sections.keys).union(["peer"])))")
                continue
            }
            for entry in table.entries where !keys.contains(entry.key) {
                fail(entry.line, "\(table.name).\(entry.key)", "unknown key\(suggestion(entry.key, keys))")
            }
            switch table.name {
            case "queue": readQueue(table, into: &configuration.queue)
            case "defaults": readDefaults(table, into: &configuration)
            case "strongswan": readStrongSwan(table, into: &configuration)
            default: readControl(table, into: &configuration)
            }
        }
        diagnostics += PolicyConfiguration.conflicts(in: configuration.peers, file: file)
        var names = Set(configuration.peers.map(\.name))
        for template in configuration.templates {
            if !names.insert(template.name).inserted {
                fail(template.line, "peer \"\(template.name)\".name", "peer name already used")
            }
        }
        return configuration
    }

    /// " (did you mean 'x'?)" when a known key is one or two edits away.
    func suggestion(_ key: String, _ known: Set<String>) -> String {
        let best = known.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        guard let best, best.1 <= 2 else { return "" }
        return " (did you mean '\(best.0)'?)"
    }
}

/// Levenshtein distance, for "did you mean".
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
