import Foundation
import MSSPolicy
import Testing

@testable import MSSDaemon

/// Issue 19: live peer changes checked against the index and published together. Each change gets the
/// answer it would get alone; the snapshot holds exactly the accepted ones.
@Suite("Live peer changes in batches")
struct LiveChangeTests {
    static func manager() throws -> PolicyManager {
        try PolicyManager(
            configuration: PolicyConfiguration.parse(
                "[[peer]]\nname = \"file\"\nmatch = \"10.0.0.0/8\"\nmss = 1300\n", file: "t.toml"),
            path: nil, interfaceIndex: { _ in 1 })
    }

    static func peer(_ name: String, _ prefix: String, _ mss: UInt16) throws -> PeerDefinition {
        PeerDefinition(name: name, match: [try IPPrefix(parsing: prefix)], ceiling: .fixed(Ceilings(ipv4: mss, ipv6: mss - 20)), origin: .live)
    }

    @Test func aBatchAnswersEachChangeAsIfAlone() throws {
        let policy = try Self.manager()
        let results = policy.change([
            .add(try Self.peer("a", "192.0.2.0/25", 1200), replace: false),
            .add(try Self.peer("b", "192.0.2.0/25", 1210), replace: false),  // prefix taken by a
            .add(try Self.peer("file", "198.51.100.0/24", 1220), replace: false),  // name of a file peer
            .add(try Self.peer("c", "10.0.0.0/8", 1230), replace: false),  // prefix of the file peer
            .add(try Self.peer("d", "198.51.100.0/24", 1240), replace: false),
            .remove("d"),
            .add(try Self.peer("d", "198.51.100.0/25", 1250), replace: false),  // d again, in the same batch
            .add(try Self.peer("a", "203.0.113.0/24", 1260), replace: true),  // a moves
            .remove("nobody"),
        ])
        let ok = results.map { (try? $0.get()) != nil }
        #expect(ok == [true, false, false, false, true, true, true, true, false])
        let errors = results.compactMap { result -> String? in
            if case .failure(let error) = result { error.description } else { nil }
        }
        #expect(errors[0].contains("already claimed by peer \"a\""), "\(errors)")
        #expect(errors[1].contains("name already used"), "\(errors)")
        #expect(errors[2].contains("already claimed by peer \"file\""), "\(errors)")
        #expect(errors[3].contains("no live peer named \"nobody\""), "\(errors)")
        let live = policy.livePeers.map { "\($0.name) \($0.match.map(\.description).joined()) \($0.ceiling.ceilings.ipv4 ?? 0)" }
        #expect(live == ["a 203.0.113.0/24 1260", "d 198.51.100.0/25 1250"], "\(live)")
        // One snapshot for the batch; a's old prefix is free again.
        #expect(policy.store.currentVersion == 2)
        #expect(throws: Never.self) { _ = try policy.add(try Self.peer("b", "192.0.2.0/25", 1210), replace: false) }
    }

    /// Many clients at once: every add is answered, and the policy holds every one of them.
    @Test func concurrentAddsAllLand() throws {
        let policy = try Self.manager()
        DispatchQueue.concurrentPerform(iterations: 400) { index in
            _ = try? policy.add(try Self.peer("p\(index)", "2001:db8:\(String(index, radix: 16))::/48", 1200), replace: false)
        }
        #expect(policy.livePeers.count == 400)
        #expect(policy.store.snapshot.peers.count == 401)
        // Fewer snapshots than changes: the compilations were shared.
        #expect(policy.store.currentVersion <= 401)
    }
}
