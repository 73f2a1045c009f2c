import MSSWire

/// How the firewall tools name an IP family: one home for "iptables"/"ip6tables" and nft's "ip"/"ip6".
extension IPFamily {
    /// The iptables command of the family: `iptables` or `ip6tables`.
    public var iptablesCommand: String { self == .ipv4 ? "iptables" : "ip6tables" }

    /// nft's name of the family, as in `ip saddr`, `table ip mangle`: `ip` or `ip6`.
    public var nftName: String { self == .ipv4 ? "ip" : "ip6" }

    /// nft's address type: `ipv4_addr` or `ipv6_addr`.
    var nftType: String { self == .ipv4 ? "ipv4_addr" : "ipv6_addr" }

    /// The prefix of the safety net's per-family objects (`v4_peers`, `v6_claimed`).
    var nftObjectPrefix: String { self == .ipv4 ? "v4_" : "v6_" }
}
