import MSSControl
import MSSPolicy

/// `explain ADDRESS`: which peer holds the address (the longest prefix, as the data plane decides), and
/// how that peer's ceiling was reached: given, measured, or computed layer by layer (for an IPsec SA, from
/// its negotiated proposal).
extension ControlRequests {
    func explain(_ text: String) -> ControlResponse {
        guard let address = try? IPPrefix(parsing: text), address.isHost else {
            return ControlResponse(ok: false, error: "'\(text)' is not an IPv4 or IPv6 address")
        }
        let snapshot = changes.policy.store.snapshot
        let best = snapshot.definitions.holder(of: address).map { (definition: snapshot.definitions[$0.index], prefix: $0.prefix) }
        var response = ControlResponse(ok: true)
        response.policyVersion = snapshot.version
        guard let best else {
            response.explanation = Explanation(
                address: text, peer: nil, matched: nil, mss4: snapshot.defaults.ipv4, mss6: snapshot.defaults.ipv6,
                steps: ["no peer's match holds \(text): the defaults, mss \(snapshot.defaults)", netStep(address)])
            return response
        }
        let statistics = statistics()
        let definition = best.definition
        var steps = ["peer \"\(definition.name)\" holds \(text) through \(best.prefix)"]
        let conditions = [
            definition.inInterface.map { "coming in on \($0)" }, definition.outInterface.map { "leaving on \($0)" },
            definition.fwmark.map { "with mark \($0)" },
        ].compactMap { $0 }
        if !conditions.isEmpty {
            steps.append("only for packets " + conditions.joined(separator: ", ") + "; others get the defaults, mss \(snapshot.defaults)")
        }
        switch definition.origin {
        case .file(let file, let line): steps.append("from \(file):\(line)")
        case .live: steps.append("added at run time (peer add)")
        case .source(let template, let detail): steps.append("made by template \"\(template)\": \(detail)")
        }
        for sa in statistics.strongswan?.sas ?? [] where sa.peer == definition.name {
            let link = sa.linkMTU.map { "link \($0) (\(sa.linkSource))" } ?? "no link MTU"
            steps.append("SA #\(sa.childID) of \(sa.connection): \(sa.proposal) on \(link) -> mss \(Ceilings(ipv4: sa.mss4, ipv6: sa.mss6))"
                + (sa.assumed.map { "; \($0)" } ?? ""))
        }
        steps += Self.derivation(definition.ceiling)
        steps.append(netStep(address))
        let ceilings = definition.ceiling.ceilings
        response.explanation = Explanation(
            address: text, peer: Self.report(definition, counters: statistics.peers[definition.name]),
            matched: best.prefix.description, mss4: ceilings.ipv4, mss6: ceilings.ipv6, steps: steps)
        return response
    }

    /// What the kernel safety net holds for the address, as it was listed after the daemon's last write.
    func netStep(_ address: IPPrefix) -> String {
        guard let held = changes.netHolding(address) else { return "safety net: none installed (run without --install-rules or --no-safety-net)" }
        let prefix = "safety net (table inet \(held.table), policy version \(held.version))"
        guard !held.elements.isEmpty else { return "\(prefix): no element holds it, the net's defaults apply" }
        return "\(prefix): " + held.elements.joined(separator: "; ")
    }

    /// How a ceiling was reached, one line a step.
    static func derivation(_ ceiling: PeerCeiling) -> [String] {
        switch ceiling {
        case .fixed(let ceilings):
            return ["mss \(ceilings) as given"]
        case .none:
            return ["no clamp for this peer (mss = \"none\")"]
        case .measured(let ceilings, let note):
            return ["auto: mss \(ceilings) (\(note))"]
        case .detected(let ceilings, let note):
            return ["detected black hole: mss \(ceilings) for this address (\(note))"]
        case .derived(let linkMTU, let encapsulation, let cipher, let integrity, let ceilings):
            guard let result = try? OverheadCalculator.compute(linkMTU: linkMTU, names: encapsulation, cipher: cipher, integrity: integrity) else {
                return ["link \(linkMTU) \(encapsulation.joined(separator: "+")) -> mss \(ceilings)"]
            }
            var lines = ["link MTU \(linkMTU)"]
            for layer in result.layers { lines.append("  - \(layer.bytes) \(layer.name) (\(layer.source))") }
            lines.append("= inner MTU \(result.mtu4) -> mss \(result.mss4) for IPv4 (- 40), \(result.mss6) for IPv6 (MTU \(result.mtu6) - 60)")
            return lines
        }
    }
}
