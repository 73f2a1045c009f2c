import Foundation
import Logging
import MSSControl
import MSSPolicy
import MSSProbe
import MSSSystem
import MSSVICI
import Synchronization
import TestSupport
import VICITestSupport
import Testing

@testable import MSSDaemon

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 22: how charon's CHILD_SAs become peers. Events are applied to the SA table as charon sends them;
/// the source speaks VICI to a scripted server on a real Unix socket (the real charon is in the
/// integration tests), reconnects when it goes, and refuses a socket served by anyone but root.
@Suite("strongSwan source")
struct StrongSwanSourceTests {
    static func listing(_ arguments: [(childID: String, ikeID: String, selectors: [String], encryption: String)]) -> [String: IPsecChildSA] {
        var table: [String: IPsecChildSA] = [:]
        for argument in arguments {
            let message = VICIMessageFixtures.listSA(
                childID: argument.childID, ikeID: argument.ikeID, encryption: argument.encryption, selectors: argument.selectors)
            for (name, ike) in StrongSwanSAs.ikeSections(message) {
                for sa in StrongSwanSAs.children(connection: name, ike: ike) { table[sa.childID] = sa }
            }
        }
        return table
    }

    @Test func eventsMoveTheSATable() throws {
        var table: [String: IPsecChildSA] = [:]
        // Up, then a second SA; a down of an unknown SA changes nothing.
        #expect(StrongSwanSource.apply(event: "child-updown", VICIMessageFixtures.upDown(true, VICIMessageFixtures.listSA(childID: "3")), to: &table))
        #expect(StrongSwanSource.apply(
            event: "child-updown", VICIMessageFixtures.upDown(true, VICIMessageFixtures.listSA(childID: "4", ikeID: "2", selectors: ["10.9.0.2/32"])),
            to: &table))
        #expect(table.keys.sorted() == ["3", "4"])
        #expect(!StrongSwanSource.apply(event: "child-updown", VICIMessageFixtures.upDown(false, VICIMessageFixtures.listSA(childID: "99")), to: &table))
        // A CHILD_SA rekey: the old id goes, the new one comes, with its own proposal.
        let rekey = VICIMessageFixtures.rekey(oldChildID: "3", newChildID: "5", encryption: "AES_CBC")
        #expect(StrongSwanSource.apply(event: "child-rekey", rekey, to: &table))
        #expect(table.keys.sorted() == ["4", "5"] && table["5"]?.proposal.encryption == "AES_CBC")
        // An IKE_SA rekey moves the CHILD_SAs to the new IKE_SA id; a roam to IPv6 changes the outer family.
        #expect(StrongSwanSource.apply(event: "ike-rekey", VICIMessageFixtures.ikeRekey(old: "2", new: "7"), to: &table))
        #expect(table["4"]?.ikeID == "7")
        #expect(StrongSwanSource.apply(event: "ike-update", VICIMessageFixtures.ikeUpdate(ikeID: "7", remoteHost: "2001:db8::9"), to: &table))
        #expect(table["4"]?.remoteHost == "2001:db8::9" && table["4"]?.proposal.outerIPv6 == true)
        // The IKE_SA goes down: its CHILD_SAs go with it, even without a child-updown.
        #expect(StrongSwanSource.apply(event: "ike-updown", VICIMessageFixtures.upDown(false, VICIMessageFixtures.ikeOnly(ikeID: "7")), to: &table))
        #expect(table.keys.sorted() == ["5"])
        #expect(StrongSwanSource.apply(event: "child-updown", VICIMessageFixtures.upDown(false, VICIMessageFixtures.listSA(childID: "5")), to: &table))
        #expect(table.isEmpty)
    }

    @Test func sasBecomePeersWithTheirOwnCeilings() throws {
        let table = Self.listing([
            ("3", "1", ["10.9.0.1/32"], "AES_GCM_16"), ("4", "2", ["10.9.0.2/32"], "AES_CBC"),
            // A make-before-break reauthentication: a second SA for the same selectors is the same peer.
            ("6", "5", ["10.9.0.1/32"], "AES_GCM_16"),
            // A selector that covers everything is no match.
            ("8", "9", ["0.0.0.0/0"], "AES_GCM_16"),
        ])
        let groups = PeerSources.groupIPsec(Array(table.values).sorted { $0.childID < $1.childID }, source: .strongswan(connection: "rw"))
        #expect(groups.map(\.key) == ["rw.net@10.9.0.1/32", "rw.net@10.9.0.2/32", "rw.net@none"])
        #expect(groups[0].sas.map(\.childID) == ["3", "6"] && groups[2].match.isEmpty && groups[2].unreadable == ["0.0.0.0/0"])
        #expect(PeerSources.groupIPsec(Array(table.values), source: .strongswan(connection: "other")).isEmpty)
        #expect(PeerSources.groupIPsec(Array(table.values), source: .strongswan(connection: "*")).count == 3)

        let policy = try PolicyManager(
            configuration: PolicyConfiguration.parse("[[peer]]\nname = \"ipsec\"\nstrongswan = \"rw\"\nlink_mtu = 1400\n", file: "t.toml"),
            path: nil, interfaceIndex: { _ in 1 })
        let sources = PeerSources(
            policy: policy, auto: AutoCeilings(sockets: nil, unavailable: "test", logger: Logger(label: "t")), logger: Logger(label: "t"),
            changed: { _ in })
        sources.strongswan.sas.withLock { $0 = table }
        sources.publish("ipsec")
        let peers = Dictionary(uniqueKeysWithValues: policy.sourcedPeers.map { ($0.name, $0) })
        #expect(peers.keys.sorted() == ["ipsec/rw.net@10.9.0.1_32", "ipsec/rw.net@10.9.0.2_32"])
        #expect(peers["ipsec/rw.net@10.9.0.1_32"]?.ceiling.ceilings == Ceilings(ipv4: 1298, ipv6: 1278))
        #expect(peers["ipsec/rw.net@10.9.0.2_32"]?.ceiling.ceilings.ipv4 == 1286)
        guard case .source(_, let detail) = peers["ipsec/rw.net@10.9.0.2_32"]?.origin else { Issue.record("no origin"); return }
        #expect(detail == "strongswan rw/net #4 ESP AES_CBC-256/HMAC_SHA2_256_128 in UDP, IPv4 outer, from 192.0.2.2")
        let report = sources.state.withLock { $0.ipsec["ipsec"] ?? [] }
        #expect(report.map(\.childID) == ["3", "6", "4", "8"] && report.allSatisfy { $0.linkSource == "link_mtu" })
    }

    @Test func anSAsCeilingIsExplainedLayerByLayer() throws {
        let sa = try #require(Self.listing([("3", "1", ["10.9.0.1/32"], "AES_GCM_16")])["3"])
        let computed = PeerSources.ipsecCeiling(sa, linkMTU: 1400, defaults: Ceilings(ipv4: 1360, ipv6: 1340))
        let steps = ControlRequests.derivation(computed.ceiling)
        #expect(steps.first == "link MTU 1400")
        #expect(steps.last == "= inner MTU 1338 -> mss 1298 for IPv4 (- 40), 1278 for IPv6 (MTU 1338 - 60)")
        // The layers add up: 1400 less every layer's bytes is the inner MTU.
        let bytes = steps.dropFirst().dropLast().compactMap { Int($0.split(separator: " ")[1]) }
        #expect(1400 - bytes.reduce(0, +) == 1338, "\(steps)")
        #expect(steps.contains { $0.contains("UDP (NAT-T)") } && steps.contains { $0.contains("IV (aes-gcm-256)") })
        // No route to the SA's outer address and no link_mtu: the defaults, and it says so.
        var lost = sa
        lost.remoteHost = "203.0.113.250"
        let unknown = PeerSources.ipsecCeiling(lost, linkMTU: nil, defaults: Ceilings(ipv4: 1360, ipv6: 1340))
        if EchoSweep.routeMTU(to: "203.0.113.250") == nil {
            #expect(unknown.ceiling == .fixed(Ceilings(ipv4: 1360, ipv6: 1340)) && unknown.assumed?.contains("no route") == true)
        } else {
            #expect(unknown.linkSource == "route MTU")
        }
    }

    @Test func aTemplateTakesLinkMTUAloneAndRefusesEncap() throws {
        let configuration = try PolicyConfiguration.parse(
            "[strongswan]\nsocket = \"unix:///run/lab/charon.vici\"\n\n[[peer]]\nname = \"a\"\nstrongswan = \"rw\"\n\n[[peer]]\nname = \"b\"\nstrongswan = \"*\"\nmss = \"auto\"\n",
            file: "t.toml")
        #expect(configuration.strongswanSocket == "/run/lab/charon.vici")
        #expect(configuration.templates.map(\.ceiling) == [.perSA, .auto(fallback: nil)])
        #expect(configuration.templates[0].summary == "strongswan rw: each SA's own, on the route MTU")
        do {
            _ = try PolicyConfiguration.parse("[[peer]]\nname = \"a\"\nstrongswan = \"rw\"\nlink_mtu = 1400\nencap = [\"nat-t\"]\n", file: "t.toml")
            Issue.record("encap accepted")
        } catch {
            #expect(error.diagnostics.map(\.description).joined().contains("t.toml:5: peer \"a\".encap: a strongswan template reads encap from each SA"))
        }
    }

    @Test func theSourceFollowsAScriptedCharonAndReconnects() throws {
        let directory = try PrivateTemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/charon.vici"
        let server = try ScriptedCharon(path: path)
        let changes = Atomic(0)
        let source = StrongSwanSource(logger: Logger(label: "t"), socket: { path }, changed: { changes.add(1, ordering: .relaxed) })
        server.listing = [VICIMessageFixtures.listSA(childID: "3")]
        source.start()
        defer { source.stop() }
        #expect(waitUntil { source.children.map(\.childID) == ["3"] })
        #expect(source.report(sas: [])?.connected == true)
        // An SA comes up: followed at once, by event.
        server.send(event: "child-updown", VICIMessageFixtures.upDown(true, VICIMessageFixtures.listSA(childID: "4", ikeID: "2", selectors: ["10.9.0.2/32"])))
        #expect(waitUntil { source.children.map(\.childID) == ["3", "4"] })
        // charon restarts with only one SA: the source reconnects and the listing replaces the table.
        server.listing = [VICIMessageFixtures.listSA(childID: "9", ikeID: "8")]
        server.dropClients()
        #expect(waitUntil { source.children.map(\.childID) == ["9"] })
        #expect(server.registrations.withLock { $0.filter { $0 == "child-updown" }.count } == 2)
        server.stop()
        #expect(waitUntil { source.report(sas: [])?.error?.contains("cannot connect") == true })
        #expect(source.report(sas: [])?.connected == false)
        // The last SAs stay in force while charon is away, and `stats` says it.
        #expect(source.children.map(\.childID) == ["9"])
        var statistics = Statistics()
        statistics.strongswan = source.report(sas: [])
        let text = statistics.rendered(title: "t")
        #expect(text.contains("strongswan    NOT CONNECTED to \(path) since ") && text.contains("the last 0 SA(s) stay in force"), "\(text)")
        #expect(changes.load(ordering: .relaxed) >= 3)
    }

    @Test func aSocketServedByAnotherUserIsRefused() throws {
        let directory = try PrivateTemporaryDirectory()
        defer { directory.remove() }
        let server = try ScriptedCharon(path: directory.path + "/charon.vici")
        defer { server.stop() }
        #expect {
            _ = try VICIConnection(path: directory.path + "/charon.vici", serverUIDs: [12345])
        } throws: { error in
            "\(error)".contains("is served by uid \(getuid()), not by root's charon: refused")
        }
    }

    func waitUntil(_ condition: () -> Bool) -> Bool {
        let end = monotonicMilliseconds() + 10_000
        while monotonicMilliseconds() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}
