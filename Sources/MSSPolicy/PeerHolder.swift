extension Array where Element == PeerDefinition {
    /// The peer whose longest prefix covers `address`, as the data plane's prefix table decides (the first
    /// in order on a tie), with that prefix; nil when no peer's match covers it. Conditions
    /// (interfaces, marks) are not looked at. `explain`, the black-hole watch and the detected ceilings
    /// all ask here.
    public func holder(of address: IPPrefix) -> (index: Int, prefix: IPPrefix)? {
        var best: (index: Int, prefix: IPPrefix)?
        for (index, peer) in enumerated() {
            for prefix in peer.match where prefix.covers(address) && prefix.length > (best?.prefix.length ?? -1) {
                best = (index, prefix)
            }
        }
        return best
    }
}
