import Foundation

/// A ceiling learned from a black hole seen in live traffic, for one address: it only ever lowers what
/// the address's peer gives, and it expires (docs/design.md, "Black holes in live traffic").
public struct DetectedCeiling: Sendable, Hashable {
    /// The address (a host prefix) the black hole was seen toward.
    public var address: IPPrefix
    public var ceilings: Ceilings
    /// When and how it was found, the evidence, when it expires: one line, for `explain` and the peer list.
    public var note: String
    public var expiresAt: Date

    /// How long a detected ceiling lasts: a day. A path that shrank for a while (a mobile client on a bad
    /// network) gets its full ceiling back the next day; one still broken is detected again on its first
    /// stalled download.
    public static let lifetime: TimeInterval = 86_400

    public init(address: IPPrefix, ceilings: Ceilings, note: String, expiresAt: Date) {
        self.address = address
        self.ceilings = ceilings
        self.note = note
        self.expiresAt = expiresAt
    }
}

extension PeerDefinition {
    /// The peers with each detected ceiling in place, in the same order, so the daemon's prefix table and
    /// the kernel safety net (both compiled from this list) agree:
    /// - the address's peer (its longest prefix covering the address) keeps everything else; the address
    ///   gets a peer of its own, `PEER@ADDRESS`, with the same conditions and the lower of the two
    ///   ceilings, placed right after it;
    /// - when the peer's prefix is the address itself (a WireGuard or OpenVPN client's /32), the prefix
    ///   moves to the new peer, unless it is the peer's only one: then the peer's own ceiling is lowered
    ///   (a peer left without prefixes would match every packet its conditions admit);
    /// - an address no peer covers is left to the defaults (a detected ceiling refines a peer).
    /// A detected ceiling never raises: where the peer's ceiling is already lower, it changes nothing.
    public static func applying(_ detected: [DetectedCeiling], to peers: [PeerDefinition]) -> [PeerDefinition] {
        guard !detected.isEmpty else { return peers }
        var result = peers
        var added: [Int: [PeerDefinition]] = [:]
        for item in detected {
            guard item.address.isHost else { continue }
            guard let (owner, ownerPrefix) = result.holder(of: item.address) else { continue }
            let ownerLength = ownerPrefix.length
            let peer = result[owner]
            let lowered = peer.ceiling.ceilings.lowered(by: item.ceilings)
            guard lowered != peer.ceiling.ceilings else { continue }
            let ceiling = PeerCeiling.detected(lowered, note: "\(item.note); the peer's own: \(peer.ceiling.summary)")
            if ownerLength == item.address.length && peer.match.count == 1 {
                result[owner].ceiling = ceiling
                continue
            }
            var own = peer
            own.name = String("\(peer.name)@\(item.address.address)".prefix(64))
            own.match = [item.address]
            own.ceiling = ceiling
            if ownerLength == item.address.length { result[owner].match.removeAll { $0 == item.address } }
            added[owner, default: []].append(own)
        }
        guard !added.isEmpty else { return result }
        var ordered: [PeerDefinition] = []
        for (index, peer) in result.enumerated() {
            ordered.append(peer)
            ordered += added[index] ?? []
        }
        return ordered
    }
}
