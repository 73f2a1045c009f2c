/// A PMTUD black hole in four network namespaces (the lab of `scripts/demo`, docs/lab.md):
///
///     client ---- gateway ==== middle ---- server
///     192.0.2.2   .1  198.51.100.1/.2  203.0.113.1  203.0.113.2
///     2001:db8:c::2   2001:db8:a::1/2  2001:db8:5::1  2001:db8:5::2
///                   (the narrow link)
///
/// The gateway is where mssclamp runs. The gateway-middle link is narrower than the others (1400 bytes
/// by default, or what a tunnel leaves of a link: `--encap`), and the middle router drops the ICMP
/// "fragmentation needed" and ICMPv6 "packet too big" it would send, so Path MTU Discovery fails: a
/// download from the server hangs as soon as full-size segments flow.
public struct BlackHoleLab: Sendable {
    public let client: String
    public let gateway: String
    public let middle: String
    public let server: String
    /// The narrow link's MTU.
    public let narrowMTU: Int
    /// False: the middle router speaks up, and PMTUD works.
    public let dropsICMP: Bool

    public static let serverIPv4 = "203.0.113.2"
    public static let serverIPv6 = "2001:db8:5::2"

    public init(name: String, narrowMTU: Int, dropsICMP: Bool = true) {
        client = name + "-client"
        gateway = name + "-gw"
        middle = name + "-mid"
        server = name + "-srv"
        self.narrowMTU = narrowMTU
        self.dropsICMP = dropsICMP
    }

    public var namespaces: [String] { [client, gateway, middle, server] }

    /// Builds the lab (after removing any lab of the same name); on a failure, removes what it built.
    public func up() throws(LabFailure) {
        down()
        do {
            try build()
        } catch {
            down()
            throw error
        }
    }

    /// Deletes the four namespaces and every process in them.
    public func down() {
        for name in namespaces { Namespaces.remove(name) }
    }

    private func link(_ a: String, _ aName: String, _ b: String, _ bName: String, mtu: Int) throws(LabFailure) {
        try Tool.run(["ip", "link", "add", aName, "netns", a, "type", "veth", "peer", "name", bName, "netns", b])
        try Tool.run(Tool.inside(a, ["ip", "link", "set", aName, "mtu", "\(mtu)", "up"]))
        try Tool.run(Tool.inside(b, ["ip", "link", "set", bName, "mtu", "\(mtu)", "up"]))
    }

    private func address(_ namespace: String, _ interface: String, _ addresses: [String]) throws(LabFailure) {
        for address in addresses {
            try Tool.run(Tool.inside(namespace, ["ip", "addr", "add", address, "dev", interface] + (address.contains(":") ? ["nodad"] : [])))
        }
    }

    private func route(_ namespace: String, _ destination: String, via: String) throws(LabFailure) {
        try Tool.run(Tool.inside(namespace, ["ip"] + (via.contains(":") ? ["-6"] : []) + ["route", "add", destination, "via", via]))
    }

    private func build() throws(LabFailure) {
        for name in namespaces {
            try Namespaces.add(name)
            try Tool.run(Tool.inside(name, ["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]))
        }
        try link(client, "c-g", gateway, "g-c", mtu: 1500)
        try link(gateway, "g-m", middle, "m-g", mtu: narrowMTU)
        try link(middle, "m-s", server, "s-m", mtu: 1500)
        try address(client, "c-g", ["192.0.2.2/24", "2001:db8:c::2/64"])
        try address(gateway, "g-c", ["192.0.2.1/24", "2001:db8:c::1/64"])
        try address(gateway, "g-m", ["198.51.100.1/24", "2001:db8:a::1/64"])
        try address(middle, "m-g", ["198.51.100.2/24", "2001:db8:a::2/64"])
        try address(middle, "m-s", ["203.0.113.1/24", "2001:db8:5::1/64"])
        try address(server, "s-m", [Self.serverIPv4 + "/24", Self.serverIPv6 + "/64"])
        try route(client, "default", via: "192.0.2.1")
        try route(client, "default", via: "2001:db8:c::1")
        try route(gateway, "default", via: "198.51.100.2")
        try route(gateway, "default", via: "2001:db8:a::2")
        try route(middle, "192.0.2.0/24", via: "198.51.100.1")
        try route(middle, "2001:db8:c::/64", via: "2001:db8:a::1")
        try route(server, "default", via: "203.0.113.1")
        try route(server, "default", via: "2001:db8:5::1")
        for name in [gateway, middle] {
            try Tool.run(Tool.inside(name, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]))
        }
        // No MTU probing on the end hosts: with it Linux would slowly find its way around the black hole.
        for name in [client, server] { try Tool.run(Tool.inside(name, ["sysctl", "-qw", "net.ipv4.tcp_mtu_probing=0"])) }
        if dropsICMP {
            // The black hole: the router that cannot forward a big packet says nothing about it.
            try Tool.run(Tool.inside(middle, ["iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP"]))
            try Tool.run(Tool.inside(middle, ["ip6tables", "-A", "OUTPUT", "-p", "icmpv6", "--icmpv6-type", "packet-too-big", "-j", "DROP"]))
        }
    }
}
