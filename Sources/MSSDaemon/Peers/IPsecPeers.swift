import MSSControl
import MSSPolicy
import MSSProbe
import MSSVICI

/// strongSwan's CHILD_SAs as peers: one peer per connection, child and set of remote traffic selectors,
/// so the old and the new SA of a rekey (or a reauthentication) are one peer, never two that claim the
/// same address. Each SA's ceiling comes from its own proposal (IPsecProposal) on the template's
/// `link_mtu`, or on the route MTU toward the SA's outer address; when a peer has several SAs, the
/// lowest ceiling holds.
extension PeerSources {
    /// SAs that share a peer.
    struct IPsecPeer {
        var key: String
        /// Oldest first: the last is the newest SA.
        var sas: [IPsecChildSA]
        var match: [IPPrefix]
        var unreadable: [String]
    }

    /// The SAs `source` follows, grouped into peers. Selectors that cover every address (0.0.0.0/0, ::/0)
    /// are not a peer's match: such an SA would claim every connection.
    static func groupIPsec(_ sas: [IPsecChildSA], source: PeerSource) -> [IPsecPeer] {
        var peers: [String: IPsecPeer] = [:]
        var order: [String] = []
        for sa in sas where source.follows(connection: sa.connection) {
            var (prefixes, unreadable) = sa.remotePrefixes
            unreadable += prefixes.filter { $0.isEverything }.map(\.description)
            prefixes = Array(Set(prefixes.filter { !$0.isEverything })).sorted { $0.description < $1.description }
            let group = "\(sa.connection)/\(sa.child)|" + prefixes.map(\.description).joined(separator: ",")
            if peers[group] == nil {
                order.append(group)
                peers[group] = IPsecPeer(key: "", sas: [], match: prefixes, unreadable: unreadable)
            }
            peers[group]?.sas.append(sa)
        }
        // Names: connection.child@first-selector, made unique when two groups would share one.
        var used: Set<String> = []
        return order.map { group in
            var peer = peers[group]!
            let first = peer.match.first?.description ?? "none"
            var key = "\(peer.sas[0].connection).\(peer.sas[0].child)@\(first)"
            var number = 2
            while used.contains(key) {
                key = "\(peer.sas[0].connection).\(peer.sas[0].child)@\(first)+\(number)"
                number += 1
            }
            used.insert(key)
            peer.key = key
            return peer
        }
    }

    /// An SA's ceiling and where its link MTU came from.
    struct IPsecCeiling {
        var ceiling: PeerCeiling
        var linkMTU: Int?
        var linkSource: String
        var assumed: String?
    }

    /// The ceiling `sa`'s proposal leaves on `linkMTU`, or on the route MTU toward its outer address; the
    /// defaults when neither is known or the link is too small to compute on.
    static func ipsecCeiling(_ sa: IPsecChildSA, linkMTU: Int?, defaults: Ceilings) -> IPsecCeiling {
        let (mtu, source) = linkMTU.map { ($0, "link_mtu") } ?? (EchoSweep.routeMTU(to: sa.remoteHost).map { ($0, "route MTU") } ?? (nil, "none"))
        guard let mtu else {
            return IPsecCeiling(ceiling: .fixed(defaults), linkMTU: nil, linkSource: source, assumed: "no route to \(sa.remoteHost): the defaults")
        }
        do {
            let (ceiling, assumed) = try sa.proposal.ceiling(linkMTU: mtu)
            return IPsecCeiling(ceiling: ceiling, linkMTU: mtu, linkSource: source, assumed: assumed)
        } catch {
            return IPsecCeiling(ceiling: .fixed(defaults), linkMTU: mtu, linkSource: source, assumed: "\(error): the defaults")
        }
    }

    /// The strongSwan template's peers, each with its SAs' ceiling; keeps the per-SA report for `stats`.
    func ipsecPeers(_ template: PeerTemplate) -> [SourcedPeer] {
        let defaults = policy.store.snapshot.defaults
        var peers: [SourcedPeer] = []
        var reports: [IPsecSAReport] = []
        var notes: [String] = []
        for group in Self.groupIPsec(strongswan.children, source: template.source) {
            let name = template.peerName(group.key)
            var lowest: IPsecCeiling?
            for sa in group.sas {
                let computed = Self.ipsecCeiling(sa, linkMTU: template.linkMTU, defaults: defaults)
                let ceilings = computed.ceiling.ceilings
                reports.append(
                    IPsecSAReport(
                        peer: name, connection: "\(sa.connection)/\(sa.child)", childID: sa.childID, remoteHost: sa.remoteHost,
                        proposal: sa.proposal.description, linkMTU: computed.linkMTU, linkSource: computed.linkSource,
                        mss4: ceilings.ipv4, mss6: ceilings.ipv6, assumed: computed.assumed))
                if let assumed = computed.assumed { notes.append("peer \"\(name)\" SA #\(sa.childID): \(assumed)") }
                if let current = lowest, current.ceiling.ceilings.lowered(by: ceilings) == current.ceiling.ceilings { continue }
                lowest = computed
            }
            let newest = group.sas[group.sas.count - 1]
            if !group.unreadable.isEmpty {
                notes.append("peer \"\(name)\": selectors not matched: \(group.unreadable.joined(separator: ", "))")
            }
            let detail = "strongswan \(newest.connection)/\(newest.child) #\(newest.childID) \(newest.proposal), from \(newest.remoteHost)"
            peers.append(SourcedPeer(key: group.key, match: group.match, endpoint: newest.endpoint, detail: detail, own: lowest?.ceiling))
        }
        let fresh = state.withLock { state in
            state.ipsec[template.name] = reports
            let fresh = notes.filter { !state.assumed.contains($0) }
            state.assumed.formUnion(fresh)
            return fresh
        }
        for note in fresh { logger.warning("strongswan: \(note)") }
        return peers
    }

    /// The strongSwan source for `stats`: the connection and every SA's proposal and ceiling.
    func strongSwanReport() -> StrongSwanReport? {
        let reports = state.withLock { state in
            state.ipsec.keys.sorted().flatMap { state.ipsec[$0] ?? [] }
        }
        return strongswan.report(sas: reports)
    }
}
