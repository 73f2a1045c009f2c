import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 12: a real OpenVPN server in TLS mode that runs as nobody/nogroup and reports its clients with
/// the learn-address hook. Each client becomes a live peer of its own, with its measured ceiling, and its
/// download through a path that drops fragments and ICMP completes. The control group may learn and do
/// nothing else.
@Suite(
    "OpenVPN clients through learn-address",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct OpenVPNPeerTests {
    static func peers(socket: String) throws -> [[String: Any]] {
        let output = try Shell.check([BuiltProducts.mssclamp, "peer", "list", "--json", "--socket", socket])
        return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
    }

    static func ceiling(_ peers: [[String: Any]], name: String) -> (mss: Int, note: String)? {
        guard let peer = peers.first(where: { $0["name"] as? String == name }), let mss = peer["mss4"] as? Int else { return nil }
        return (mss, peer["ceiling"] as? String ?? "")
    }

    @Test func eachClientIsALivePeer() throws {
        // The hook runs as nobody: it gets a copy of mssclamp it can execute, and a control socket in a
        // directory of the control group.
        let directory = try ReadableDirectory.make(prefix: "mssclamp-test")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = "\(directory)/mssclamp"
        try BuiltProducts.copyMssclamp(to: binary)
        let socket = "\(directory)/control/control.sock"
        let policy = "\(directory)/policy.toml"
        try """
            [control]
            group = "nogroup"

            [[peer]]
            name = "clients"
            learn_address = true
            learn_within = ["10.9.0.0/24"]
            mss = "auto"

            """.write(toFile: policy, atomically: true, encoding: .utf8)

        let hook = "\(binary) learn-address clients --socket \(socket)"
        // The daemon first: OpenVPN reports its clients as they connect.
        let lab = try TunnelLab(
            kind: "openvpn-gcm", links: [1500, 1400],
            options: ["--user", "nobody", "--group", "nogroup", "--learn-address", hook, "--defer-clients"])
        defer { lab.tearDown() }
        let daemon = try lab.startDaemon(["--config", policy, "--install-rules", "--control-socket", socket])
        try lab.startClients()

        var info = stat()
        #expect(stat(socket, &info) == 0 && info.st_mode & 0o777 == 0o660, "socket mode \(String(info.st_mode & 0o777, radix: 8))")
        #expect(stat("\(directory)/control", &info) == 0 && info.st_mode & 0o007 == 0, "the directory is open to others")

        // OpenVPN (as nobody) said add for each client, with the address it handed out.
        let both = try eventually(timeout: 20) {
            let peers = try Self.peers(socket: socket)
            return ["clients/client1", "clients/client2"].allSatisfy { name in
                Self.ceiling(peers, name: name).map { $0.note.contains("measured") } ?? false
            }
        }
        let peers = try Self.peers(socket: socket)
        #expect(both, "the clients are not measured live peers: \(peers)\n\(daemon.output)")
        let first = Self.ceiling(peers, name: "clients/client1")
        let second = Self.ceiling(peers, name: "clients/client2")
        // OpenVPN hands out 10.9.0.2 and 10.9.0.3 in the order the clients finish connecting.
        let address = { (name: String) in (peers.first { $0["name"] as? String == name }?["match"] as? [String])?.first ?? "" }
        #expect(Set([address("clients/client1"), address("clients/client2")]) == ["10.9.0.2/32", "10.9.0.3/32"], "\(peers)")
        let secondAddress = String(address("clients/client2").prefix { $0 != "/" })
        print("client1: \(first?.note ?? "-")\nclient2: \(second?.note ?? "-")")

        for k in [1, 2] {
            #expect(try lab.download(k), "client \(k): the download did not complete\n\(daemon.output)")
        }
        // What the server saw is each client's own ceiling: the 1400-byte link's is smaller.
        #expect(try lab.serverMSS(1) == first?.mss)
        #expect(try lab.serverMSS(2) == second?.mss)
        #expect((second?.mss ?? 9999) < (first?.mss ?? 0))

        // The control group can report addresses and nothing else.
        let asNobody = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
        let stats = try Shell.run(asNobody + [binary, "stats", "--socket", socket])
        #expect(!stats.succeeded && stats.error.contains("learn-address requests only"), "\(stats)")
        let other = try Shell.run(["setpriv", "--reuid", "nobody", "--regid", "4242", "--clear-groups", binary, "learn-address", "clients", "delete", secondAddress, "--strict", "--socket", socket])
        #expect(!other.succeeded, "a user outside the group reached the socket: \(other)")
        let delete = try Shell.run(asNobody + [binary, "learn-address", "clients", "delete", secondAddress, "--strict", "--socket", socket])
        #expect(delete.succeeded, "\(delete)")
        // The learn is answered once taken; the peer goes with the next publication, a moment later.
        #expect(try eventually(timeout: 5) { Self.ceiling(try Self.peers(socket: socket), name: "clients/client2") == nil })
        #expect(daemon.stop() == 0)
    }
}
