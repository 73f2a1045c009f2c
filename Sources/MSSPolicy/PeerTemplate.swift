// Templates: `[[peer]]` entries that do not match packets themselves but make peers from a VPN's own
// view of its clients (`wireguard = "wg0"`: one peer per WireGuard peer, matched by its AllowedIPs;
// `learn_address = true`: one peer per address OpenVPN's learn-address hook reports; `strongswan = "rw"`:
// one peer per CHILD_SA of that connection, matched by its remote traffic selectors). Their ceiling may
// be `mss = "auto"`: measured per peer; a strongSwan template computes each SA's own by default
// (docs/integrations.md).

/// Where a template's peers come from.
public enum PeerSource: Sendable, Hashable, CustomStringConvertible {
    /// The WireGuard peers of an interface (kernel module or wireguard-go), read with `wg show`.
    case wireguard(interface: String)
    /// Addresses reported by a VPN's hook (`mssclamp learn-address TEMPLATE add|update|delete ADDRESS`).
    case learnAddress
    /// The CHILD_SAs of a strongSwan connection ("*": of every connection), followed over charon's VICI socket.
    case strongswan(connection: String)

    public var description: String {
        switch self {
        case .wireguard(let interface): "wireguard \(interface)"
        case .learnAddress: "learn-address"
        case .strongswan(let connection): "strongswan \(connection)"
        }
    }

    /// Whether this source follows `connection` (a strongSwan IKE_SA's configuration name).
    public func follows(connection name: String) -> Bool {
        guard case .strongswan(let connection) = self else { return false }
        return connection == "*" || connection == name
    }
}

/// A template's ceiling: given (as any peer's), or measured per peer.
public enum TemplateCeiling: Sendable, Hashable {
    case given(PeerCeiling)
    /// `mss = "auto"`: DF-probed per peer. `fallback` is the ceiling computed from the `link_mtu` +
    /// `encap` given with it, for a peer that does not answer; nil: the tunnel interface's MTU decides.
    case auto(fallback: PeerCeiling?)
    /// A strongSwan template without `mss`: each SA's ceiling computed from its negotiated proposal on the
    /// template's `link_mtu`, or on the route MTU toward the SA's outer address.
    case perSA
}

/// A `[[peer]]` with `wireguard` or `learn_address`.
public struct PeerTemplate: Sendable, Hashable {
    public var name: String
    public var source: PeerSource
    public var ceiling: TemplateCeiling
    public var file: String
    public var line: Int
    /// learn-address: what the template may learn (`learn_within`, `learn_max`, `learn_subnets`).
    public var learning = LearnBounds()
    /// strongSwan: `link_mtu`, the link each SA's ceiling is computed on (nil: the route MTU toward the SA's
    /// outer address). Also what an `mss = "auto"` peer falls back to, with its SA's proposal.
    public var linkMTU: Int?
    /// `detect = false`: its peers' addresses are left alone by the black-hole watch.
    public var detect = true

    public init(name: String, source: PeerSource, ceiling: TemplateCeiling, file: String = "", line: Int = 0) {
        self.name = name
        self.source = source
        self.ceiling = ceiling
        self.file = file
        self.line = line
    }

    public var isAuto: Bool { if case .auto = ceiling { true } else { false } }

    public var isStrongSwan: Bool { if case .strongswan = source { true } else { false } }

    /// The name of the peer made for `key` (a WireGuard public key, or an address): "TEMPLATE/KEY", the
    /// key cut to what a peer name may hold.
    public func peerName(_ key: String) -> String {
        let safe = String(key.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || ".-_:@".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        })
        return String((name + "/" + safe).prefix(64))
    }

    public var summary: String {
        switch ceiling {
        case .given(let ceiling): "\(source): \(ceiling.summary)"
        case .auto(let fallback):
            "\(source): auto" + (fallback.map { ", fallback \($0.summary)" }
                ?? (isStrongSwan ? ", fallback each SA's own" : ", fallback from the interface MTU"))
        case .perSA: "\(source): each SA's own, on " + (linkMTU.map { "link \($0)" } ?? "the route MTU")
        }
    }
}

/// What a learn-address template may be taught: the operator's bounds on the control group's one role.
public struct LearnBounds: Sendable, Hashable {
    /// `learn_within`: every learned prefix must fall inside one of these (the VPN's address pool). Empty:
    /// no bound is given, and only root may teach the template (the control group is refused).
    public var within: [IPPrefix] = []
    /// `learn_max`: learned peers the template keeps at most; more are refused.
    public var maximum: Int = LearnBounds.defaultMaximum
    /// `learn_subnets = true`: prefixes wider than one address (an OpenVPN iroute) may be learned too.
    public var subnets = false

    public static let defaultMaximum = 65_536

    public init(within: [IPPrefix] = [], maximum: Int = LearnBounds.defaultMaximum, subnets: Bool = false) {
        self.within = within
        self.maximum = maximum
        self.subnets = subnets
    }

    /// Why `prefix` may not be learned, or nil when it may (the count is checked by the caller).
    public func refusal(_ prefix: IPPrefix) -> String? {
        if !subnets && !prefix.isHost {
            return "\(prefix) is not a host address (/32, /128); the template takes wider prefixes only with learn_subnets = true"
        }
        if let reserved = prefix.reservedUse { return "\(prefix) is \(reserved): never a client's address" }
        guard !within.isEmpty else { return nil }
        guard within.contains(where: { $0.covers(prefix) }) else {
            return "\(prefix) is outside learn_within (\(within.map(\.description).joined(separator: ", ")))"
        }
        return nil
    }
}
