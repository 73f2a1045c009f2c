// Validating a peer's ceiling: `mss` (and `mss6`), `mss = "none"`, or `link_mtu` + `encap` (with
// `cipher`, `integrity`) through the overhead calculator.

extension PolicyReader {
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
            fail(mssEntry.line, "\(label).mss", "mss = \"auto\" measures the peers a template makes: it needs wireguard = \"IFACE\", learn_address = true or strongswan = \"CONN\"")
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
            var ipv6 = ipv4.map(Ceilings.ipv6Default(forIPv4:))
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
                fail(table.line, "\(label).mss", "a peer needs mss = N, mss = \"none\", or link_mtu + encap (a template, with wireguard, learn_address or strongswan, also mss = \"auto\")")
            }
            return nil
        }
        guard let linkMTU = integer(mtuEntry, "\(label).link_mtu", in: .peerLinkMTU) else { return nil }
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
            guard ValueRange.mss.contains(result.mss6), ValueRange.mss.contains(result.mss4) else {
                let leaves = "leaves MSS \(result.mss4)/\(result.mss6), \(ValueRange.mss.outside)"
                fail(mtuEntry.line, "\(label).link_mtu", leaves)
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
}
