// Peers as text: the `[[peer]]` block `peer save` writes, and the table `peer add` is validated through
// (the same reader as the file, so a live peer obeys exactly the file's rules).

extension PeerDefinition {
    /// The peer as a `[[peer]]` block that `PolicyConfiguration.parse` reads back to the same definition.
    public var tomlText: String {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
        }
        var lines = ["[[peer]]", "name = \(quoted(name))"]
        if !match.isEmpty { lines.append("match = [" + match.map { quoted($0.description) }.joined(separator: ", ") + "]") }
        if let inInterface { lines.append("in_interface = \(quoted(inInterface))") }
        if let outInterface { lines.append("out_interface = \(quoted(outInterface))") }
        if let fwmark { lines.append("fwmark = \(quoted(fwmark.description))") }
        if !detect { lines.append("detect = false") }
        switch ceiling {
        case .none:
            lines.append("mss = \"none\"")
        case .fixed(let ceilings), .measured(let ceilings, _), .detected(let ceilings, _):
            lines.append("mss = " + (ceilings.ipv4.map(String.init) ?? "\"none\""))
            lines.append("mss6 = " + (ceilings.ipv6.map(String.init) ?? "\"none\""))
        case .derived(let mtu, let encapsulation, let cipher, let integrity, _):
            lines.append("link_mtu = \(mtu)")
            lines.append("encap = [" + encapsulation.map(quoted).joined(separator: ", ") + "]")
            if let cipher { lines.append("cipher = \(quoted(cipher))") }
            if let integrity { lines.append("integrity = \(quoted(integrity))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Validates a peer given as key/value pairs (from `mssclamp peer add`) with the file's rules.
    /// - Parameters:
    ///   - entries: keys as in a `[[peer]]` table.
    ///   - source: the name used in diagnostics ("peer add").
    public static func validated(_ entries: [(key: String, value: TOMLValue.Kind)], source: String)
        throws(PolicyError) -> PeerDefinition
    {
        var table = TOMLTable(name: "peer", line: 0)
        for (key, value) in entries {
            table.append(TOMLEntry(key: key, value: TOMLValue(kind: value, line: 0), line: 0))
        }
        var reader = PolicyReader(file: source)
        let peer = reader.readPeer(table)
        guard reader.diagnostics.isEmpty, var peer else { throw PolicyError(reader.diagnostics) }
        peer.origin = .live
        return peer
    }
}

extension String {
    /// Replaces every occurrence without Foundation.
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
