import MSSPolicy
import MSSWire

/// A policy compiled for nftables: the kernel clamps each SYN to its peer's ceiling with the daemon's own
/// semantics. Used by the `nft-map` backend (the kernel alone) and by the safety net (the kernel behind
/// the daemon, for SYNs the queue did not take).
///
/// How the semantics carry over:
/// - Every prefix is flattened into disjoint address ranges carrying its longest-prefix owner, as the
///   daemon's prefix table decides. Ranges owned by an unconditional peer go into an interval verdict map
///   per family that jumps to a chain per ceiling value; that chain lowers the MSS only when it is above
///   the value. The source lookup and the destination lookup run one after the other, so the second can
///   only lower further: the lower ceiling wins and no MSS is ever raised ("none" is `continue`).
/// - A peer with conditions (in_interface, out_interface, fwmark) gets a set of the ranges it owns and
///   rules that clamp only when the packet also meets its conditions; a peer without prefixes is its
///   conditions alone. As in the daemon, the longest-prefix owner that does not admit a packet claims it
///   not, and no shorter prefix stands in.
/// - The defaults apply when nobody claimed the packet: after the claimed ranges and every conditional
///   peer that admits it have returned.
///
/// What the kernel cannot do, and the daemon does: insert a missing MSS option, and clamp more than the
/// first MSS option of a SYN (nft's `tcp option maxseg` reads and writes the first one). Counters are per
/// table (one named counter of the SYNs lowered), not per peer.
public struct NftPolicy: Sendable, Hashable {
    /// A conditional peer: its conditions as nft expressions and the ranges it owns, per family.
    struct ConditionalPeer: Sendable, Hashable {
        var index: Int
        var ceilings: Ceilings
        var conditions: String
        var owned: [IPFamily: [String]]
        var hasPrefixes: Bool
    }

    /// Per family: the verdict map's elements, the claimed set's elements, the default ceiling.
    struct FamilyPart: Sendable, Hashable {
        var mapElements: [String] = []
        var claimed: [String] = []
        var fallback: UInt16?
        var present = false
    }

    var families: [IPFamily: FamilyPart] = [:]
    var conditional: [ConditionalPeer] = []
    /// Every ceiling a chain exists for.
    public private(set) var values: Set<UInt16> = []

    /// Compiles `defaults` and `peers` (file peers and live ones, in the daemon's order).
    public init(defaults: Ceilings, peers: [PeerDefinition]) {
        for family in [IPFamily.ipv4, .ipv6] {
            var part = FamilyPart()
            part.fallback = family == .ipv4 ? defaults.ipv4 : defaults.ipv6
            var entries: [(range: ClosedRange<UInt128>, length: Int, owner: Int)] = []
            for (index, peer) in peers.enumerated() {
                for prefix in peer.match {
                    guard let range = AddressRange(prefix), range.family == family else { continue }
                    entries.append((range.range, range.length, index))
                }
            }
            let segments = NftPolicy.flatten(entries)
            var owned: [Int: [ClosedRange<UInt128>]] = [:]
            var claimed: [ClosedRange<UInt128>] = []
            for segment in segments {
                let peer = peers[segment.owner]
                if peer.isConditional {
                    owned[segment.owner, default: []].append(segment.range)
                    continue
                }
                claimed.append(segment.range)
                let ceiling = family == .ipv4 ? peer.ceiling.ceilings.ipv4 : peer.ceiling.ceilings.ipv6
                if let ceiling {
                    values.insert(ceiling)
                    part.mapElements.append("\(family.format(segment.range)) : jump clamp_\(ceiling)")
                } else {
                    part.mapElements.append("\(family.format(segment.range)) : continue")
                }
            }
            part.claimed = NftPolicy.merge(claimed).map(family.format)
            if let fallback = part.fallback { values.insert(fallback) }
            part.present = part.fallback != nil || !segments.isEmpty
                || peers.contains { $0.isConditional && $0.match.isEmpty }
            families[family] = part
            for (index, ranges) in owned {
                if let existing = conditional.firstIndex(where: { $0.index == index }) {
                    conditional[existing].owned[family] = NftPolicy.merge(ranges).map(family.format)
                } else {
                    let peer = peers[index]
                    conditional.append(
                        ConditionalPeer(
                            index: index, ceilings: peer.ceiling.ceilings, conditions: peer.nftConditions,
                            owned: [family: NftPolicy.merge(ranges).map(family.format)], hasPrefixes: true))
                }
            }
        }
        for (index, peer) in peers.enumerated() where peer.isConditional && peer.match.isEmpty {
            conditional.append(
                ConditionalPeer(index: index, ceilings: peer.ceiling.ceilings, conditions: peer.nftConditions, owned: [:], hasPrefixes: false))
        }
        conditional.sort { $0.index < $1.index }
        for peer in conditional {
            if let value = peer.ceilings.ipv4 { values.insert(value) }
            if let value = peer.ceilings.ipv6 { values.insert(value) }
        }
    }

    static let syn = "tcp flags & (syn | rst) == syn"

    /// The chain of one ceiling: lower the MSS when it is above, counting each SYN lowered.
    static func clampRule(_ value: UInt16, counter: String?) -> String {
        "tcp option maxseg size > \(value)\(counter.map { " counter name \"\($0)\"" } ?? "") tcp option maxseg size set \(value)"
    }

    /// The policy rules of every base chain (everything but the elements of maps and sets). Two compilations
    /// with the same rules differ only in elements and can be swapped with element updates.
    func policyRules(counter: String?) -> [String] {
        var rules: [String] = []
        for family in [IPFamily.ipv4, .ipv6] {
            guard let part = families[family], part.present else { continue }
            let match = "meta nfproto \(family)"
            let address = family.nftName
            // Lookups cost time per SYN: a family without unconditional peers skips them (with defaults
            // only, a SYN meets one rule of its family, which clamps it).
            let addressed = !part.mapElements.isEmpty
            if addressed {
                rules.append("\(match) \(address) saddr vmap @\(family.nftObjectPrefix)peers")
                rules.append("\(match) \(address) daddr vmap @\(family.nftObjectPrefix)peers")
            }
            let ceilingOf = { (ceilings: Ceilings) in family == .ipv4 ? ceilings.ipv4 : ceilings.ipv6 }
            // Conditional peers clamp when they claim the packet.
            for peer in conditional {
                guard let ceiling = ceilingOf(peer.ceilings) else { continue }
                let conditions = peer.conditions.isEmpty ? "" : " " + peer.conditions
                if peer.hasPrefixes {
                    guard peer.owned[family] != nil else { continue }
                    for direction in ["saddr", "daddr"] {
                        rules.append("\(match) \(address) \(direction) @p\(peer.index)_\(family.nftObjectPrefix)owned\(conditions) jump clamp_\(ceiling)")
                    }
                } else {
                    rules.append("\(match)\(conditions) jump clamp_\(ceiling)")
                }
            }
            // Claimed packets are done; the rest get the defaults.
            if addressed {
                rules.append("\(match) \(address) saddr @\(family.nftObjectPrefix)claimed return")
                rules.append("\(match) \(address) daddr @\(family.nftObjectPrefix)claimed return")
            }
            for peer in conditional {
                let conditions = peer.conditions.isEmpty ? "" : " " + peer.conditions
                if peer.hasPrefixes {
                    guard peer.owned[family] != nil else { continue }
                    for direction in ["saddr", "daddr"] {
                        rules.append("\(match) \(address) \(direction) @p\(peer.index)_\(family.nftObjectPrefix)owned\(conditions) return")
                    }
                } else {
                    rules.append("\(match)\(conditions) return")
                }
            }
            // The defaults are the family's last rule: clamp here rather than jump (a jump per SYN costs
            // a few percent of a flood's rate, scripts/bench flood).
            if let fallback = part.fallback { rules.append("\(match) " + Self.clampRule(fallback, counter: counter)) }
        }
        return rules
    }

    /// The whole table, for `nft -f` (with `replace` the transaction first deletes a table of that name).
    /// - Parameters:
    ///   - table: the `inet` table's name.
    ///   - hooks: a base chain per hook jumps to the policy chain.
    ///   - priority: the base chains' priority ("mangle": with the iptables mangle table; "mangle + 10":
    ///     after it, for the safety net behind NFQUEUE).
    ///   - counter: the named counter of SYNs lowered, or nil for none.
    ///   - scope: interfaces the base chains act on (entering or leaving); empty: every SYN.
    public func script(table: String, hooks: [Hook], priority: String, counter: String?, scope: [String] = []) -> String {
        var lines = ["table inet \(table) {"]
        if let counter { lines += ["\tcounter \(counter) {", "\t}"] }
        for family in [IPFamily.ipv4, .ipv6] {
            guard let part = families[family], part.present else { continue }
            lines.append("\tmap \(family.nftObjectPrefix)peers {")
            lines.append("\t\ttype \(family.nftType) : verdict")
            lines.append("\t\tflags interval")
            if !part.mapElements.isEmpty { lines.append("\t\telements = { " + part.mapElements.joined(separator: ",\n\t\t\t     ") + " }") }
            lines.append("\t}")
            lines.append("\tset \(family.nftObjectPrefix)claimed {")
            lines.append("\t\ttype \(family.nftType)")
            lines.append("\t\tflags interval")
            if !part.claimed.isEmpty { lines.append("\t\telements = { " + part.claimed.joined(separator: ", ") + " }") }
            lines.append("\t}")
            for peer in conditional {
                guard let owned = peer.owned[family] else { continue }
                lines.append("\tset p\(peer.index)_\(family.nftObjectPrefix)owned {")
                lines.append("\t\ttype \(family.nftType)")
                lines.append("\t\tflags interval")
                if !owned.isEmpty { lines.append("\t\telements = { " + owned.joined(separator: ", ") + " }") }
                lines.append("\t}")
            }
        }
        for value in values.sorted() {
            lines.append("\tchain clamp_\(value) {")
            lines.append("\t\t" + Self.clampRule(value, counter: counter))
            lines.append("\t}")
        }
        // The policy's rules sit in each base chain, each behind the SYN test: no jump to a chain of their
        // own (a jump per SYN costs a few percent of a flood's rate, scripts/bench flood). `return` in a
        // base chain ends it with the chain's policy, accept, as it returned from a regular chain.
        var rules = policyRules(counter: counter).map { "\t\t\(Self.syn) " + $0 }
        if !scope.isEmpty {
            // Out of scope: neither in nor out through the instance's interfaces. `return` ends the base
            // chain with its policy, accept: another instance's net, or none, takes the packet.
            let names = scope.map { "\"\($0)\"" }.joined(separator: ", ")
            rules.insert("\t\t\(Self.syn) iifname != { \(names) } oifname != { \(names) } return", at: 0)
        }
        for hook in hooks {
            // Route type for output, so a changed packet is re-routed, as the iptables mangle table does.
            let type = hook == .output ? "route" : "filter"
            lines.append("\tchain \(hook.rawValue) {")
            lines.append("\t\ttype \(type) hook \(hook.rawValue) priority \(priority); policy accept;")
            lines += rules
            lines.append("\t}")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// An nft transaction that turns the installed compilation `old` into this one by element updates, or
    /// nil when the rules differ and only a replacement of the table will do. Only what changed is sent:
    /// the elements `old` has and this one has not are deleted, the new ones added (a peer change at
    /// 100,000 peers is a few elements, not the whole map), chains for new ceilings are made first and
    /// those of ceilings gone are deleted last.
    public func elementUpdate(from old: NftPolicy, table: String, counter: String?) -> String? {
        // The same rules name the same sets, so only elements differ.
        guard policyRules(counter: counter) == old.policyRules(counter: counter) else { return nil }
        var deletions: [String] = []
        var additions: [String] = []
        func diff(_ name: String, old: [String], new: [String], key: (String) -> String) {
            let before = Set(old)
            let after = Set(new)
            // A map element whose verdict changed is deleted by its key and added again.
            let gone = old.filter { !after.contains($0) }
            let come = new.filter { !before.contains($0) }
            if !gone.isEmpty { deletions.append("delete element inet \(table) \(name) { " + gone.map(key).joined(separator: ", ") + " }") }
            if !come.isEmpty { additions.append("add element inet \(table) \(name) { " + come.joined(separator: ", ") + " }") }
        }
        let mapKey = { (element: String) in String(element.prefix { $0 != " " }) }
        for family in [IPFamily.ipv4, .ipv6] {
            let part = families[family] ?? FamilyPart()
            let before = old.families[family] ?? FamilyPart()
            guard part.present || before.present else { continue }
            diff("\(family.nftObjectPrefix)peers", old: before.mapElements, new: part.mapElements, key: mapKey)
            diff("\(family.nftObjectPrefix)claimed", old: before.claimed, new: part.claimed, key: { $0 })
            for peer in conditional {
                guard let owned = peer.owned[family] else { continue }
                let previous = old.conditional.first { $0.index == peer.index }?.owned[family] ?? []
                diff("p\(peer.index)_\(family.nftObjectPrefix)owned", old: previous, new: owned, key: { $0 })
            }
        }
        var lines: [String] = []
        // A new ceiling's chain is declared, emptied and filled: one rule, however often the value came
        // and went (a chain left by an interrupted update is refilled, never added to).
        for value in values.subtracting(old.values).sorted() {
            lines.append("add chain inet \(table) clamp_\(value)")
            lines.append("flush chain inet \(table) clamp_\(value)")
            lines.append("add rule inet \(table) clamp_\(value) " + Self.clampRule(value, counter: counter))
        }
        lines += deletions + additions
        // Chains of ceilings no element jumps to any more go, after the elements that named them: the
        // table holds exactly what a fresh rendering of this policy holds.
        for value in old.values.subtracting(values).sorted() {
            lines.append("delete chain inet \(table) clamp_\(value)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Disjoint ranges with the peer owning the longest prefix covering them; adjacent ranges with the
    /// same owner are merged. Addresses no prefix covers are left out. Prefixes nest or are disjoint, so
    /// one sweep over them sorted by start (the wider first) with a stack of the open ones does it in
    /// O(n log n): 100,000 peers take a moment, not hours.
    static func flatten(_ entries: [(range: ClosedRange<UInt128>, length: Int, owner: Int)])
        -> [(range: ClosedRange<UInt128>, owner: Int)]
    {
        let sorted = entries.sorted {
            $0.range.lowerBound != $1.range.lowerBound ? $0.range.lowerBound < $1.range.lowerBound : $0.length < $1.length
        }
        var result: [(range: ClosedRange<UInt128>, owner: Int)] = []
        func emit(_ lower: UInt128, _ upper: UInt128, _ owner: Int) {
            guard lower <= upper else { return }
            if let last = result.last, last.owner == owner, last.range.upperBound != UInt128.max,
                last.range.upperBound + 1 == lower
            {
                result[result.count - 1].range = last.range.lowerBound...upper
            } else {
                result.append((lower...upper, owner))
            }
        }
        var stack: [(range: ClosedRange<UInt128>, owner: Int)] = []
        // The next address not yet emitted; nil once the whole space is done.
        var cursor: UInt128? = nil
        func close(_ top: (range: ClosedRange<UInt128>, owner: Int)) {
            if let from = cursor, from <= top.range.upperBound { emit(from, top.range.upperBound, top.owner) }
            if let from = cursor, from > top.range.upperBound { return }
            cursor = top.range.upperBound == UInt128.max ? nil : top.range.upperBound + 1
        }
        for entry in sorted {
            while let top = stack.last, top.range.upperBound < entry.range.lowerBound {
                close(top)
                stack.removeLast()
            }
            if let top = stack.last {
                // The same prefix twice (a peer that lists it twice): the first owner keeps it.
                if top.range == entry.range { continue }
                if let from = cursor, from < entry.range.lowerBound { emit(from, entry.range.lowerBound - 1, top.owner) }
            }
            cursor = entry.range.lowerBound
            stack.append((entry.range, entry.owner))
        }
        while let top = stack.popLast() { close(top) }
        return result
    }

    /// The union of ranges as disjoint ranges.
    static func merge(_ ranges: [ClosedRange<UInt128>]) -> [ClosedRange<UInt128>] {
        var result: [ClosedRange<UInt128>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, last.upperBound == UInt128.max || range.lowerBound <= last.upperBound + 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }
}

extension PeerDefinition {
    /// A peer whose claim depends on more than its addresses.
    var isConditional: Bool { inInterface != nil || outInterface != nil || fwmark != nil }

    /// Its conditions as nft expressions ("iifname \"tun0\" meta mark & 0xff == 0x10").
    var nftConditions: String {
        var parts: [String] = []
        if let inInterface { parts.append("iifname \"\(inInterface)\"") }
        if let outInterface { parts.append("oifname \"\(outInterface)\"") }
        if let fwmark {
            parts.append(fwmark.mask == 0xffff_ffff ? "meta mark \(Self.hex(fwmark.value))" : "meta mark & \(Self.hex(fwmark.mask)) == \(Self.hex(fwmark.value))")
        }
        return parts.joined(separator: " ")
    }

    private static func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
}
