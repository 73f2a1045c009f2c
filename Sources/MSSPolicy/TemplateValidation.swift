// Validating a `[[peer]]` template (`wireguard = "IFACE"`, `learn_address = true` or `strongswan = "CONN"`),
// with the same diagnostics as any key of the file.

extension PolicyReader {
    mutating func readTemplate(_ table: TOMLTable) -> PeerTemplate? {
        let errorsBefore = diagnostics.count
        let (name, label) = readPeerName(table)
        var source: PeerSource?
        if let entry = table["wireguard"], let interface = string(entry, "\(label).wireguard") {
            if InterfaceName.isValid(interface) {
                source = .wireguard(interface: interface)
            } else {
                fail(entry.line, "\(label).wireguard", "'\(interface)' is not an interface name (\(InterfaceName.rule))")
            }
        }
        if let entry = table["learn_address"], let value = boolean(entry, "\(label).learn_address") {
            if !value {
                fail(entry.line, "\(label).learn_address", "false makes no peers: leave the key out")
            } else if source != nil {
                fail(entry.line, "\(label).learn_address", "give either wireguard or learn_address, not both")
            } else {
                source = .learnAddress
            }
        }
        if let entry = table["strongswan"], let connection = string(entry, "\(label).strongswan") {
            if source != nil {
                fail(entry.line, "\(label).strongswan", "give one of wireguard, learn_address and strongswan")
            } else if connection.isEmpty || connection.count > 128 || connection.contains(where: { $0.isNewline }) {
                fail(entry.line, "\(label).strongswan", "give a connection name of swanctl.conf (1-128 characters), or \"*\" for all")
            } else {
                source = .strongswan(connection: connection)
            }
        }
        // The source's peers bring their own addresses: AllowedIPs, or the learned address.
        for key in ["match", "in_interface", "out_interface", "fwmark"] {
            if let entry = table[key] {
                fail(entry.line, "\(label).\(key)", "a template's peers are matched by the addresses its source reports (AllowedIPs, learned addresses); leave \(key) out")
            }
        }
        let ceiling: TemplateCeiling?
        var saLinkMTU: Int?
        if case .strongswan = source {
            (ceiling, saLinkMTU) = readStrongSwanCeiling(table, label: label)
        } else if let entry = table["mss"], entry.value.kind == .string("auto") {
            if let mss6 = table["mss6"] {
                fail(mss6.line, "\(label).mss6", "mss = \"auto\" measures both families; leave mss6 out")
            }
            // link_mtu + encap with auto: what a peer that does not answer the probe gets.
            var rest = table
            rest.entries.removeAll { $0.key == "mss" || $0.key == "mss6" }
            if rest["link_mtu"] != nil || rest["encap"] != nil {
                ceiling = readCeiling(rest, label: label).map { .auto(fallback: $0) }
            } else {
                ceiling = .auto(fallback: nil)
            }
        } else {
            ceiling = readCeiling(table, label: label).map { .given($0) }
        }
        let learning = readLearnBounds(table, label: label, learns: source == .learnAddress)
        let detect = readDetect(table, label: label)
        guard diagnostics.count == errorsBefore, let source, let ceiling else { return nil }
        var template = PeerTemplate(name: name, source: source, ceiling: ceiling, file: file, line: table.line)
        template.learning = learning
        template.linkMTU = saLinkMTU
        template.detect = detect
        return template
    }
}

extension PolicyReader {
    /// A strongSwan template: `link_mtu` alone (each SA's ceiling from its proposal on that link), nothing
    /// (on the route MTU), `mss = "auto"` (measured; each SA's own as the fallback), or `mss = N` (given).
    /// `encap`, `cipher` and `integrity` come from each SA, so they are refused.
    mutating func readStrongSwanCeiling(_ table: TOMLTable, label: String) -> (TemplateCeiling?, Int?) {
        for key in ["encap", "cipher", "integrity"] {
            if let entry = table[key] {
                fail(entry.line, "\(label).\(key)", "a strongswan template reads \(key) from each SA's negotiated proposal; leave it out (link_mtu alone names the link)")
                return (nil, nil)
            }
        }
        var linkMTU: Int?
        if let entry = table["link_mtu"] {
            guard let value = integer(entry, "\(label).link_mtu", in: .peerLinkMTU) else { return (nil, nil) }
            linkMTU = value
        }
        guard let mssEntry = table["mss"] else {
            if let entry = table["mss6"] { fail(entry.line, "\(label).mss6", "mss6 needs mss") }
            return (.perSA, linkMTU)
        }
        if mssEntry.value.kind == .string("auto") {
            if let mss6 = table["mss6"] {
                fail(mss6.line, "\(label).mss6", "mss = \"auto\" measures both families; leave mss6 out")
            }
            return (.auto(fallback: nil), linkMTU)
        }
        if let entry = table["link_mtu"] {
            fail(entry.line, "\(label).link_mtu", "give either mss or link_mtu, not both")
            return (nil, nil)
        }
        return (readCeiling(table, label: label).map { .given($0) }, nil)
    }

    /// `learn_within`, `learn_max`, `learn_subnets`: the bounds of what a learn-address template may be
    /// taught (only such a template takes them).
    mutating func readLearnBounds(_ table: TOMLTable, label: String, learns: Bool) -> LearnBounds {
        var bounds = LearnBounds()
        for key in ["learn_within", "learn_max", "learn_subnets"] {
            guard let entry = table[key] else { continue }
            guard learns else {
                fail(entry.line, "\(label).\(key)", "only a learn_address template learns addresses; leave \(key) out")
                continue
            }
            switch key {
            case "learn_within":
                let texts: [String]?
                if case .string(let single) = entry.value.kind { texts = [single] } else { texts = strings(entry, "\(label).\(key)") }
                if let texts, texts.isEmpty { fail(entry.line, "\(label).\(key)", "is empty: give the VPN's address pool(s)") }
                for text in texts ?? [] {
                    do {
                        let prefix = try IPPrefix(parsing: text)
                        if let reserved = prefix.reservedUse {
                            fail(entry.line, "\(label).\(key)", "'\(text)' overlaps \(reserved) space: give the VPN's address pool")
                        } else {
                            bounds.within.append(prefix)
                        }
                    } catch {
                        fail(entry.line, "\(label).\(key)", "bad prefix '\(text)': \(error)")
                    }
                }
            case "learn_max":
                if let value = integer(entry, "\(label).\(key)", in: .learnMax) { bounds.maximum = value }
            default:
                if let value = boolean(entry, "\(label).\(key)") { bounds.subnets = value }
            }
        }
        return bounds
    }
}
