import Foundation
import MSSSystem

/// The throwaway network of one bench run: a generator, a router and a sink namespace, joined by two veth
/// pairs, on documentation addresses. Nothing is created in the host's own namespace: each link is made
/// directly inside the namespaces it joins, and every rule a row installs lives in the router namespace,
/// so deleting the three namespaces removes everything.
///
///     generator 198.51.100.2 [g-r] -- [r-g] 198.51.100.1  router  203.0.113.1 [r-s] -- [s-r] 203.0.113.2 sink
///
/// The sink counts the SYNs to port 80 that arrive clamped (MSS <= the ceiling) and the others, and drops
/// both (iptables raw PREROUTING); port 80 of the sink is never answered. Handshakes for the latency rows
/// go to port 8080, where a listener answers.
public struct BenchLab: Sendable {
    /// Every namespace of a bench run starts with this, then its PID; `--cleanup` removes whatever has it,
    /// but for a bench that still runs.
    public static let prefix = "msbench-"
    public let generator: String
    public let router: String
    public let sink: String

    static let generatorInterface = "g-r"
    static let generatorAddress = "198.51.100.2"
    static let sinkAddress = "203.0.113.2"
    /// The router's MAC on the generator side: the generator's frames are addressed to it, so no ARP is
    /// needed under a flood.
    static let generatorMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    static let routerMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]
    static let sinkMAC = "02:00:00:00:00:04"
    /// The port the generator's SYNs go to (counted and dropped), and the port handshakes are timed on.
    static let floodPort: UInt16 = 80
    static let handshakePort: UInt16 = 8080

    /// The lab named after `tag` (the bench's pid: two runs never share names).
    public init(tag: String) {
        generator = Self.prefix + tag + "-gen"
        router = Self.prefix + tag + "-router"
        sink = Self.prefix + tag + "-sink"
    }

    var namespaces: [String] { [generator, router, sink] }

    /// Builds the namespaces, links, addresses, routes and the sink's counters.
    func build(ceiling: Int) throws(LabFailure) {
        for name in namespaces { try Namespaces.add(name) }
        try Tool.run([
            "ip", "link", "add", Self.generatorInterface, "netns", generator, "address", "02:00:00:00:00:01", "type", "veth",
            "peer", "name", "r-g", "netns", router, "address", "02:00:00:00:00:02",
        ])
        try Tool.run([
            "ip", "link", "add", "r-s", "netns", router, "address", "02:00:00:00:00:03", "type", "veth",
            "peer", "name", "s-r", "netns", sink, "address", Self.sinkMAC,
        ])
        let addresses = [
            (generator, Self.generatorInterface, Self.generatorAddress + "/24"), (router, "r-g", "198.51.100.1/24"),
            (router, "r-s", "203.0.113.1/24"), (sink, "s-r", Self.sinkAddress + "/24"),
        ]
        for (name, interface, address) in addresses {
            try Tool.run(Tool.inside(name, ["ip", "addr", "add", address, "dev", interface]))
            try Tool.run(Tool.inside(name, ["ip", "link", "set", interface, "up"]))
        }
        try Tool.run(Tool.inside(router, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]))
        try Tool.run(Tool.inside(router, [
            "ip", "neigh", "replace", Self.sinkAddress, "lladdr", Self.sinkMAC, "dev", "r-s", "nud", "permanent",
        ]))
        try Tool.run(Tool.inside(generator, ["ip", "route", "add", "default", "via", "198.51.100.1"]))
        try Tool.run(Tool.inside(sink, ["ip", "route", "add", "default", "via", "203.0.113.1"]))
        let port = String(Self.floodPort)
        try Tool.run(Tool.inside(sink, [
            "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "--dport", port, "-m", "tcpmss", "--mss",
            "0:\(ceiling)", "-j", "DROP",
        ]))
        try Tool.run(Tool.inside(sink, ["iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "--dport", port, "-j", "DROP"]))
    }

    /// Deletes the namespaces after stopping every process still inside them.
    func tearDown() {
        for name in namespaces { Namespaces.remove(name) }
    }

    /// SYNs the sink has counted so far: clamped (MSS <= the ceiling) and the others.
    func sinkCounts() throws(LabFailure) -> (clamped: UInt64, unclamped: UInt64) {
        let listing = try Tool.run(Tool.inside(sink, ["iptables", "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n"]))
        let counts = listing.split(separator: "\n").filter { $0.contains("DROP") }
            .compactMap { line in line.split(separator: " ").first.flatMap { UInt64($0) } }
        guard counts.count == 2 else { throw LabFailure(.failed, "the sink's counters are not there:\n\(listing)") }
        return (counts[0], counts[1])
    }

    /// Packets the router's queues dropped (queue full, or the user-space copy failed), from the kernel's
    /// own table.
    func queueDrops() -> UInt64 {
        let text = try? NetworkNamespace.run(in: router) {
            try? String(contentsOfFile: "/proc/thread-self/net/netfilter/nfnetlink_queue", encoding: .utf8)
        }
        var drops: UInt64 = 0
        for line in (text ?? nil)?.split(separator: "\n") ?? [] {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 7, let full = UInt64(fields[5]), let failed = UInt64(fields[6]) { drops += full + failed }
        }
        return drops
    }

    /// SYNs the kernel safety net clamped (its `clamped` counter), 0 when it is not installed.
    func netClamped() -> UInt64 {
        guard let listing = try? Tool.run(Tool.inside(router, ["nft", "list", "counter", "inet", "mssclamp_net", "clamped"])) else {
            return 0
        }
        let words = listing.split(whereSeparator: \.isWhitespace)
        guard let index = words.firstIndex(of: "packets"), index + 1 < words.count else { return 0 }
        return UInt64(words[index + 1]) ?? 0
    }
}
