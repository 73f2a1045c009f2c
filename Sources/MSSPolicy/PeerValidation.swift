// Validating a [[peer]]: its name, what it matches (prefixes, interfaces, fwmark) and its keys; the
// ceiling is read in CeilingValidation.swift.

extension PolicyReader {
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

    /// `detect = false`: the black-hole watch leaves this peer's addresses alone (default true).
    mutating func readDetect(_ table: TOMLTable, label: String) -> Bool {
        guard let entry = table["detect"] else { return true }
        return boolean(entry, "\(label).detect") ?? true
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
            case .integer(let value) where ValueRange.firewallMark.contains(value):
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
        let detect = readDetect(table, label: label)
        guard diagnostics.count == errorsBefore, let ceiling else { return nil }
        var peer = PeerDefinition(
            name: name, match: prefixes, inInterface: inInterface, outInterface: outInterface, fwmark: mark,
            ceiling: ceiling, origin: .file(file, line: table.line))
        peer.detect = detect
        return peer
    }
}
