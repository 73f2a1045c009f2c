import MSSControl
import MSSPolicy

/// What a worker publishes after every batch, under its own lock.
struct PublishedCounters {
    /// Running sums in the same fixed-size form the worker counts in: adding a batch is a few additions,
    /// and names are attached only when someone reads.
    var totals = LocalCounters()
    /// Per-peer totals of the current policy, indexed like `names` (index 0: no peer, the defaults).
    var peerTotals: [PeerCounters] = [PeerCounters()]
    var names: [String] = [PolicySnapshot.defaultPeerName]
    /// Totals of peers from earlier policy versions, by name: at most `retiredLimit` names, the oldest
    /// beyond it summed under `retiredName`, so peers that come and go (a connect script adding one per
    /// client) leave a bounded trail.
    var retired: [String: PeerCounters] = [:]
    /// Names in `retired`, oldest first.
    var retiredOrder: [String] = []

    static let retiredLimit = 1000
    static let retiredName = "(retired)"

    /// Starts counting against a new policy's peer list; what was counted so far stays, by name.
    mutating func rekey(names newNames: [String]) {
        let current = Set(newNames)
        for (index, counters) in peerTotals.enumerated() where counters.seen > 0 {
            let name = names[index]
            if retired[name] == nil && name != Self.retiredName { retiredOrder.append(name) }
            retired[name, default: PeerCounters()].add(counters)
        }
        // A peer that is back in the policy counts under its name again, with its history.
        var returning: [String: PeerCounters] = [:]
        for name in current where retired[name] != nil { returning[name] = retired.removeValue(forKey: name) }
        if !returning.isEmpty { retiredOrder.removeAll { returning[$0] != nil } }
        while retiredOrder.count > Self.retiredLimit {
            let oldest = retiredOrder.removeFirst()
            if let counters = retired.removeValue(forKey: oldest) {
                retired[Self.retiredName, default: PeerCounters()].add(counters)
            }
        }
        names = [PolicySnapshot.defaultPeerName] + newNames
        peerTotals = [PeerCounters](repeating: PeerCounters(), count: names.count)
        for (index, name) in names.enumerated() { if let counters = returning[name] { peerTotals[index] = counters } }
    }

    var statistics: Statistics {
        var result = totals.statistics
        result.peers = retired
        for (index, counters) in peerTotals.enumerated() where counters.seen > 0 {
            result.peers[names[index], default: PeerCounters()].add(counters)
        }
        return result
    }
}
