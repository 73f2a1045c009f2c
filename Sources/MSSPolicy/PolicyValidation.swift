// Validating a parsed TOML document into a `PolicyConfiguration`: every key checked, every problem
// collected with its file, line and key, nothing of a bad file used.

extension PolicyConfiguration {
    /// Validates peers as a set: unique names and no prefix claimed by two peers.
    /// - Parameter file: the name for peers without a file line.
    public static func conflicts(in peers: [PeerDefinition], file: String) -> [PolicyDiagnostic] {
        var diagnostics: [PolicyDiagnostic] = []
        // Indexes, not copies: a policy of 100,000 peers is checked in a blink.
        var names: [String: Int] = [:]
        var owners: [IPPrefix: Int] = [:]
        names.reserveCapacity(peers.count)
        owners.reserveCapacity(peers.count * 2)
        func place(_ peer: PeerDefinition) -> (String, Int) {
            switch peer.origin {
            case .file(let name, let line): (name, line)
            case .live: (file, 0)
            case .source(let template, _): ("template \"\(template)\"", 0)
            }
        }
        for (index, peer) in peers.enumerated() {
            if let other = names[peer.name] {
                let (where_, line) = place(peer)
                let (otherFile, otherLine) = place(peers[other])
                diagnostics.append(
                    PolicyDiagnostic(
                        file: where_, line: line, key: "peer \"\(peer.name)\".name",
                        message: "peer name already used at \(otherFile):\(otherLine)"))
            } else {
                names[peer.name] = index
            }
            for prefix in peer.match {
                if let other = owners[prefix] {
                    guard peers[other].name != peer.name else { continue }
                    let (where_, line) = place(peer)
                    let owner = peers[other]
                    let (otherFile, otherLine) = place(owner)
                    diagnostics.append(
                        PolicyDiagnostic(
                            file: where_, line: line, key: "peer \"\(peer.name)\".match",
                            message: "prefix \(prefix) is already claimed by peer \"\(owner.name)\" "
                                + "(\(otherFile):\(otherLine), \(owner.ceiling.summary)); a prefix can "
                                + "belong to one peer only"))
                } else {
                    owners[prefix] = index
                }
            }
        }
        return diagnostics
    }
}

/// Reads a parsed document, collecting diagnostics.
struct PolicyReader {
    let file: String
    var diagnostics: [PolicyDiagnostic] = []

    init(file: String) { self.file = file }

    static let sections: [String: Set<String>] = [
        "queue": ["num", "fail_open", "maxlen", "batch", "hooks", "cpu_fanout", "rate", "burst", "instance", "interfaces"],
        "defaults": ["mss4", "mss6", "insert_missing", "malformed"],
        "control": ["socket", "group"],
    ]
    static let peerKeys: Set<String> = [
        "name", "match", "in_interface", "out_interface", "fwmark", "mss", "mss6", "link_mtu", "encap", "cipher",
        "integrity", "wireguard", "learn_address", "learn_within", "learn_max", "learn_subnets",
    ]

    mutating func fail(_ line: Int, _ key: String, _ message: String) {
        diagnostics.append(PolicyDiagnostic(file: file, line: line, key: key, message: message))
    }

    mutating func read(_ document: TOMLDocument) -> PolicyConfiguration {
        var configuration = PolicyConfiguration(file: file)
        for entry in document.root.entries {
            fail(entry.line, entry.key, "keys belong in a table ([queue], [defaults], [control] or [[peer]])")
        }
        for (table, isArray) in document.tables {
            if table.name == "peer" {
                guard isArray else {
                    fail(table.line, "peer", "peers are [[peer]] (an array of tables), not [peer]")
                    continue
                }
                if ["wireguard", "learn_address", "learn_within", "learn_max", "learn_subnets"].contains(where: { table[$0] != nil }) {
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
            default:
                if let entry = table["group"], let group = string(entry, "control.group") {
                    if !group.isEmpty, group.utf8.count <= 32, !group.contains(":"), !group.contains(" "), !group.contains("/") {
                        configuration.controlGroup = group
                    } else {
                        fail(entry.line, "control.group", "'\(group)' is not a group name")
                    }
                }
                if let entry = table["socket"], let path = string(entry, "control.socket") {
                    if path.hasPrefix("/") {
                        configuration.controlSocket = path
                        configuration.controlSocketGiven = true
                    } else {
                        fail(entry.line, "control.socket", "must be an absolute path, got '\(path)'")
                    }
                }
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

    mutating func readQueue(_ table: TOMLTable, into queue: inout QueueSettings) {
        if let entry = table["num"] {
            switch entry.value.kind {
            case .integer(let number) where (0...65535).contains(number): queue.num = String(number)
            case .string(let text) where QueueRange(parsing: text) != nil: queue.num = text
            default: fail(entry.line, "queue.num", "must be a queue number N or a range \"N-M\" within 0-65535")
            }
        }
        if let entry = table["fail_open"] { queue.failOpen = boolean(entry, "queue.fail_open") }
        if let entry = table["cpu_fanout"] { queue.cpuFanout = boolean(entry, "queue.cpu_fanout") }
        if let entry = table["maxlen"] { queue.maxlen = integer(entry, "queue.maxlen", in: 1...1_000_000) }
        if let entry = table["batch"] { queue.batch = integer(entry, "queue.batch", in: 1...1024) }
        if let entry = table["instance"], let name = string(entry, "queue.instance") {
            if Instance(name: name) == nil {
                fail(entry.line, "queue.instance", "'\(name)' is not an instance name (1-10 of letters, digits, _ and -)")
            } else {
                queue.instance = name
            }
        }
        if let entry = table["rate"] { queue.rate = integer(entry, "queue.rate", in: 0...10_000_000) }
        if let entry = table["burst"] { queue.burst = integer(entry, "queue.burst", in: 1...10_000_000) }
        if let entry = table["interfaces"], let names = strings(entry, "queue.interfaces") {
            if names.isEmpty { fail(entry.line, "queue.interfaces", "is empty: leave it out for an instance that takes every SYN") }
            for name in names where !InterfaceName.isValid(name) {
                fail(entry.line, "queue.interfaces", "'\(name)' is not an interface name (\(InterfaceName.rule))")
            }
            queue.interfaces = names
        }
        if let entry = table["hooks"] {
            if let hooks = strings(entry, "queue.hooks") {
                for hook in hooks where Hook(rawValue: hook) == nil {
                    fail(entry.line, "queue.hooks", "unknown hook '\(hook)'; use forward, output, prerouting, postrouting")
                }
                queue.hooks = hooks
            }
        }
    }

    mutating func readDefaults(_ table: TOMLTable, into configuration: inout PolicyConfiguration) {
        var ipv4 = configuration.defaults.ipv4
        var ipv6: UInt16?? = nil
        if let entry = table["mss4"] {
            if entry.value.kind == .string("none") { ipv4 = nil } else { ipv4 = mss(entry, "defaults.mss4", allowNone: true) ?? ipv4 }
        }
        if let entry = table["mss6"] {
            if entry.value.kind == .string("none") {
                ipv6 = .some(nil)
            } else if let value = mss(entry, "defaults.mss6", allowNone: true) {
                ipv6 = .some(value)
            }
        }
        configuration.defaults = Ceilings(ipv4: ipv4, ipv6: ipv6 ?? ipv4.map { max(UInt16(validMSS.lowerBound), $0 &- 20) })
        if let entry = table["insert_missing"], let value = boolean(entry, "defaults.insert_missing") {
            configuration.insertMissing = value
        }
        if let entry = table["malformed"], let value = string(entry, "defaults.malformed") {
            switch value {
            case "accept": configuration.dropMalformed = false
            case "drop": configuration.dropMalformed = true
            default: fail(entry.line, "defaults.malformed", "must be \"accept\" or \"drop\", got \"\(value)\"")
            }
        }
    }

    /// A `[[peer]]`'s name (or "#LINE" when it has none or a bad one) and the label its diagnostics use;
    /// unknown keys are reported here. Shared by peers and templates.
    mutating func readPeerName(_ table: TOMLTable) -> (name: String, label: String) {
        var name = "#\(table.line)"
        if let entry = table["name"], let value = string(entry, "peer.name") {
            if PeerDefinition.isValidName(value) {
                name = value
            } else {
                fail(entry.line, "peer.name", "'\(value)' is not a valid name (1-64 of letters, digits, . - _ : @)")
            }
        } else if table["name"] == nil {
            fail(table.line, "peer.name", "every [[peer]] needs a name")
        }
        let label = "peer \"\(name)\""
        for entry in table.entries where !Self.peerKeys.contains(entry.key) {
            fail(entry.line, "\(label).\(entry.key)", "unknown key\(suggestion(entry.key, Self.peerKeys))")
        }
        return (name, label)
    }

    mutating func readPeer(_ table: TOMLTable) -> PeerDefinition? {
        let errorsBefore = diagnostics.count
        let (name, label) = readPeerName(table)
        var prefixes: [IPPrefix] = []
        if let entry = table["match"] {
            let texts: [String]?
            if case .string(let single) = entry.value.kind { texts = [single] } else { texts = strings(entry, "\(label).match") }
            if let texts, texts.isEmpty {
                // An empty list would make a peer that matches on nothing, which claims every SYN.
                fail(entry.line, "\(label).match", "is empty: give at least one prefix, or leave match out and use in_interface, out_interface or fwmark")
            }
            for text in texts ?? [] {
                do {
                    prefixes.append(try IPPrefix(parsing: text))
                } catch {
                    fail(entry.line, "\(label).match", "bad prefix '\(text)': \(error)")
                }
            }
        }
        var inInterface: String?
        var outInterface: String?
        for (key, slot) in [("in_interface", 0), ("out_interface", 1)] {
            guard let entry = table[key], let value = string(entry, "\(label).\(key)") else { continue }
            // IFNAMSIZ is 16 including the terminating zero.
            guard InterfaceName.isValid(value) else {
                fail(entry.line, "\(label).\(key)", "'\(value)' is not an interface name (\(InterfaceName.rule))")
                continue
            }
            if slot == 0 { inInterface = value } else { outInterface = value }
        }
        var mark: FirewallMark?
        if let entry = table["fwmark"] {
            switch entry.value.kind {
            case .integer(let value) where (0...Int(UInt32.max)).contains(value):
                mark = FirewallMark(value: UInt32(value))
            case .string(let text) where FirewallMark(parsing: text) != nil:
                mark = FirewallMark(parsing: text)
            default:
                fail(entry.line, "\(label).fwmark", "must be a 32-bit mark (0x10) or \"VALUE/MASK\" (\"0x10/0xff\")")
            }
        }
        if prefixes.isEmpty && inInterface == nil && outInterface == nil && mark == nil && table["match"] == nil {
            fail(table.line, "\(label).match", "a peer needs match, in_interface, out_interface or fwmark")
        }
        let ceiling = readCeiling(table, label: label)
        guard diagnostics.count == errorsBefore, let ceiling else { return nil }
        return PeerDefinition(
            name: name, match: prefixes, inInterface: inInterface, outInterface: outInterface, fwmark: mark,
            ceiling: ceiling, origin: .file(file, line: table.line))
    }

    mutating func readCeiling(_ table: TOMLTable, label: String) -> PeerCeiling? {
        let mssEntry = table["mss"]
        let mtuEntry = table["link_mtu"]
        let derivedKeys = ["link_mtu", "encap", "cipher", "integrity"].compactMap { table[$0] }
        if let mssEntry, let first = derivedKeys.first {
            fail(first.line, "\(label).\(first.key)", "give either mss or link_mtu + encap, not both")
            _ = mssEntry
            return nil
        }
        if let mssEntry, mssEntry.value.kind == .string("auto") {
            fail(mssEntry.line, "\(label).mss", "mss = \"auto\" measures the peers a template makes: it needs wireguard = \"IFACE\" or learn_address = true")
            return nil
        }
        if let mssEntry {
            // "none" per family: `mss = "none"` alone exempts the peer; with `mss6 = N` only IPv6 is clamped.
            let ipv4: UInt16?
            if mssEntry.value.kind == .string("none") {
                ipv4 = nil
            } else {
                guard let value = mss(mssEntry, "\(label).mss", allowNone: true) else { return nil }
                ipv4 = value
            }
            var ipv6 = ipv4.map { max(UInt16(validMSS.lowerBound), $0 &- 20) }
            if let entry = table["mss6"] {
                if entry.value.kind == .string("none") {
                    ipv6 = nil
                } else {
                    guard let value = mss(entry, "\(label).mss6", allowNone: true) else { return nil }
                    ipv6 = value
                }
            }
            if ipv4 == nil && ipv6 == nil { return PeerCeiling.none }
            return .fixed(Ceilings(ipv4: ipv4, ipv6: ipv6))
        }
        if let entry = table["mss6"] {
            fail(entry.line, "\(label).mss6", "mss6 needs mss")
            return nil
        }
        guard let mtuEntry else {
            if let first = derivedKeys.first {
                fail(first.line, "\(label).link_mtu", "encap needs link_mtu (the MTU of the link the tunnel runs over)")
            } else {
                fail(table.line, "\(label).mss", "a peer needs mss = N, mss = \"none\", or link_mtu + encap (a template, with wireguard or learn_address, also mss = \"auto\")")
            }
            return nil
        }
        guard let linkMTU = integer(mtuEntry, "\(label).link_mtu", in: 576...65535) else { return nil }
        var names: [String] = []
        if let entry = table["encap"] {
            guard let list = strings(entry, "\(label).encap") else { return nil }
            names = list
        }
        let cipher = table["cipher"].flatMap { string($0, "\(label).cipher") }
        let integrity = table["integrity"].flatMap { string($0, "\(label).integrity") }
        do {
            let result = try OverheadCalculator.compute(
                linkMTU: linkMTU, names: names, cipher: cipher, integrity: integrity)
            guard validMSS.contains(result.mss6), validMSS.contains(result.mss4) else {
                fail(mtuEntry.line, "\(label).link_mtu", "leaves MSS \(result.mss4)/\(result.mss6), outside 88-65495")
                return nil
            }
            return .derived(
                linkMTU: linkMTU, encapsulation: names, cipher: cipher, integrity: integrity,
                ceilings: Ceilings(ipv4: UInt16(result.mss4), ipv6: UInt16(result.mss6)))
        } catch {
            let line = (table["encap"] ?? table["cipher"] ?? table["integrity"] ?? mtuEntry).line
            fail(line, "\(label).encap", "\(error)")
            return nil
        }
    }

    // MARK: typed reads

    mutating func string(_ entry: TOMLEntry, _ key: String) -> String? {
        if case .string(let value) = entry.value.kind { return value }
        fail(entry.line, key, "must be a string, got \(entry.value.typeName)")
        return nil
    }

    mutating func boolean(_ entry: TOMLEntry, _ key: String) -> Bool? {
        if case .boolean(let value) = entry.value.kind { return value }
        fail(entry.line, key, "must be true or false, got \(entry.value.typeName)")
        return nil
    }

    mutating func integer(_ entry: TOMLEntry, _ key: String, in range: ClosedRange<Int>) -> Int? {
        guard case .integer(let value) = entry.value.kind else {
            fail(entry.line, key, "must be an integer, got \(entry.value.typeName)")
            return nil
        }
        guard range.contains(value) else {
            fail(entry.line, key, "\(value) is outside \(range.lowerBound)-\(range.upperBound)")
            return nil
        }
        return value
    }

    mutating func mss(_ entry: TOMLEntry, _ key: String, allowNone: Bool = false) -> UInt16? {
        guard case .integer(let value) = entry.value.kind else {
            fail(entry.line, key, "must be an MSS (an integer within 88-65495)\(allowNone ? " or \"none\"" : ""), got \(entry.value.typeName)")
            return nil
        }
        guard validMSS.contains(value) else {
            fail(entry.line, key, "MSS \(value) is outside 88-65495")
            return nil
        }
        return UInt16(value)
    }

    mutating func strings(_ entry: TOMLEntry, _ key: String) -> [String]? {
        guard case .array(let elements) = entry.value.kind else {
            fail(entry.line, key, "must be an array of strings, got \(entry.value.typeName)")
            return nil
        }
        var result: [String] = []
        for element in elements {
            guard case .string(let text) = element.kind else {
                fail(element.line, key, "must be an array of strings, found \(element.typeName)")
                return nil
            }
            result.append(text)
        }
        return result
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
