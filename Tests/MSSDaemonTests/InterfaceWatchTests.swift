import MSSPolicy
import Synchronization
import Testing

@testable import MSSDaemon

/// A tunnel interface recreated under a new index: the worker notices the index the policy missed, and
/// one re-resolution gives the peer its ceiling back. Indexes and names come from seams here; the
/// kernel's side is SelfHealingTests.aRecreatedInterfaceKeepsItsPeer.
@Suite("Interface indexes the policy missed")
struct InterfaceWatchTests {
    func stale(_ watch: inout InterfaceWatch, _ index: UInt32, _ policy: PolicySnapshot) -> Bool {
        watch.isStale(index, policy: policy)
    }

    static let text = "[defaults]\nmss4 = 1360\n\n[[peer]]\nname = \"tunnel\"\nin_interface = \"tun0\"\nmss = 1200\n"

    @Test func aNewIndexOfAPeersInterfaceIsStaleOnceAndResolvedByOneRefresh() throws {
        let index = Mutex<UInt32>(7)
        let policy = try PolicyManager(
            configuration: PolicyConfiguration.parse(Self.text, file: "t.toml"), path: nil,
            interfaceIndex: { name in name == "tun0" ? index.withLock { $0 } : nil })
        let names: [UInt32: String] = [2: "eth0", 7: "tun0", 9: "tun0"]
        var watch = InterfaceWatch(name: { names[$0] })
        let before = policy.store.snapshot
        #expect(before.interfaceIndexes == ["tun0": 7])
        #expect(!stale(&watch, 7, before))
        #expect(!stale(&watch, 2, before), "eth0 is no peer's interface")
        #expect(!stale(&watch, 0, before))
        #expect(!stale(&watch, 5, before), "an index without a name (gone) is not stale")
        // tun0 comes back as index 9; no link event has been handled yet.
        index.withLock { $0 = 9 }
        #expect(stale(&watch, 9, before))
        #expect(stale(&watch, 9, before), "a stale index is asked about again until it is resolved")
        let after = try #require(policy.refreshInterfaces())
        #expect(after.interfaceIndexes == ["tun0": 9])
        #expect(after.peerNames == before.peerNames)
        #expect(!stale(&watch, 9, after))
        #expect(policy.refreshInterfaces() == nil, "nothing changed since")
    }

    @Test func aPolicyWithoutInterfacePeersIsNotWatched() throws {
        let policy = try PolicyManager(
            configuration: PolicyConfiguration.parse("[defaults]\nmss4 = 1360\n", file: "t.toml"), path: nil,
            interfaceIndex: { _ in 1 })
        #expect(!policy.store.snapshot.namesInterfaces)
        #expect(policy.refreshInterfaces(waiting: true) == nil)
    }
}
