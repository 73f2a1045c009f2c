import Testing

@testable import MSSDaemon

/// Live peers that come and go must leave a bounded trail of counters (issue 10, bounded memory).
@Suite("Per-peer counters stay bounded")
struct BoundedCountersTests {
    @Test func retiredPeersAreBoundedAndNothingIsLost() {
        var state = PublishedCounters()
        var seen: UInt64 = 0
        // 5,000 policy versions, each with one new live peer that saw a packet, then left.
        for round in 0..<5000 {
            state.rekey(names: ["file-peer", "live-\(round)"])
            state.peerTotals[1].seen += 1  // file-peer
            state.peerTotals[2].seen += 2  // the live peer
            seen += 3
        }
        state.rekey(names: ["file-peer"])
        let statistics = state.statistics
        #expect(statistics.peers.count <= PublishedCounters.retiredLimit + 3, "\(statistics.peers.count) names kept")
        #expect(statistics.peers.values.reduce(0) { $0 + $1.seen } == seen, "counts were lost")
        #expect(statistics.peers["file-peer"]?.seen == 5000)
        #expect(statistics.peers[PublishedCounters.retiredName] != nil)
        // The most recent leavers keep their names.
        #expect(statistics.peers["live-4999"]?.seen == 2)
        #expect(statistics.peers["live-0"] == nil)
    }

    @Test func aPeerThatComesBackKeepsItsHistory() {
        var state = PublishedCounters()
        state.rekey(names: ["a"])
        state.peerTotals[1].seen = 7
        state.rekey(names: [])
        #expect(state.statistics.peers["a"]?.seen == 7)
        state.rekey(names: ["a"])
        state.peerTotals[1].seen += 1
        #expect(state.statistics.peers["a"]?.seen == 8)
        #expect(state.retired["a"] == nil)
    }
}
