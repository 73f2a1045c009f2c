import Foundation
import MSSControl
import MSSWire
import Testing

@testable import MSSDaemon

/// The counter table drives the worker's slots, the JSON, merging, the report and the metrics.
@Suite("Counter table")
struct CounterTableTests {
    @Test func everyTableFitsItsSlots() {
        #expect(CounterTableSlots.fits)
        #expect(PeerCounterSlots.fits)
        #expect(OutcomeSlots.fits)
        #expect(MalformedSlots.fits)
        #expect(MissingMSSSlots.fits)
    }

    /// Every counter shows up under its case name in JSON, as a metric and as a row of the report, and
    /// survives a JSON round trip and a merge (totals add, the largest batch wins).
    @Test func everyCounterReachesEveryOutput() throws {
        var statistics = Statistics()
        for (index, counter) in Counter.allCases.enumerated() { statistics[counter] = UInt64(100 + index) }
        var peer = PeerCounters()
        for (index, counter) in PeerCounter.allCases.enumerated() { peer[counter] = UInt64(10 + index) }
        statistics.peers = ["rw/a": peer]

        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(statistics)) as? [String: Any] ?? [:]
        for (index, counter) in Counter.allCases.enumerated() {
            #expect(json[String(describing: counter)] as? Int == 100 + index, "\(counter) in JSON")
        }
        let peerJSON = (json["peers"] as? [String: [String: Int]])?["rw/a"] ?? [:]
        #expect(peerJSON["tinyMSS"] == 10 + PeerCounter.tinyMSS.rawValue)
        let decoded = try JSONDecoder().decode(Statistics.self, from: JSONEncoder().encode(statistics))
        #expect(decoded == statistics)

        var merged = statistics
        merged.merge(statistics)
        #expect(merged[.packets] == 2 * statistics[.packets])
        #expect(merged[.tinyMSS] == 2 * statistics[.tinyMSS])
        #expect(merged[.largestBatch] == statistics[.largestBatch])
        #expect(merged.peers["rw/a"]?[.tinyMSS] == 2 * peer[.tinyMSS])

        let final = statistics
        let metrics = MetricsRendering {
            MetricsRendering.Snapshot(statistics: final, kernel: [], policyVersion: 1, changes: [:], peers: 1)
        }.render()
        for counter in Counter.allCases {
            let spec = counter.spec
            let name = "mssclamp_" + spec.metric + (spec.kind == .total ? "_total" : "")
            #expect(metrics.contains("\n\(name) \(statistics[counter])"), "\(name) in the metrics")
        }
        #expect(metrics.contains("mssclamp_peer_packets_total{peer=\"rw/a\",outcome=\"tiny_mss\"} \(peer[.tinyMSS])"), "\(metrics)")

        let report = statistics.rendered(title: "t")
        for counter in Counter.allCases {
            #expect(report.contains(counter.spec.label), "\(counter.spec.label) in the report")
        }
        #expect(report.contains("tiny_mss"))
    }
}
