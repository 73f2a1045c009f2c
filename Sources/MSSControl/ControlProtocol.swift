import MSSPolicy

// The control protocol: one JSON request line per connection, one JSON response line. The socket is
// root's, or a control group's for `learn` (MSSDaemon's ControlServer); `mssclamp peer|stats|reload` are the
// clients (ControlClient.swift).

/// A request to the daemon.
public struct ControlRequest: Codable, Sendable {
    public enum Command: String, Codable, Sendable {
        case peerAdd = "peer-add"
        case peerRemove = "peer-remove"
        case peerList = "peer-list"
        case peerSave = "peer-save"
        case stats
        case reload
        /// Many `peer-add` / `peer-remove` requests in one (`requests`), applied in order and published
        /// together: how a provisioning script or a VPN restart sends thousands of changes.
        case batch
        /// The safety net the daemon's policy renders (live and learned peers included), for `rules verify`.
        case netScript = "net-script"
        /// learn-address: a VPN's hook reports a client address (the control group may send this).
        case learn
        /// Where the ceiling of `address` comes from (`mssclamp explain`).
        case explain
    }

    public var command: Command
    /// peer-remove: the name; peer-add: see `peer`.
    public var name: String?
    /// peer-add: the peer's keys as in a `[[peer]]` table.
    public var peer: LivePeerFields?
    /// peer-add: replace a live peer of the same name.
    public var replace: Bool?
    /// peer-list: the page to return (peers `offset..<offset+limit` of the policy in force).
    public var offset: Int?
    public var limit: Int?
    /// reload: accept a file that would remove every peer (an empty or truncated file is refused
    /// otherwise).
    public var allowEmpty: Bool?
    /// learn: the template, the operation (add, update, delete), the address and the client's name;
    /// explain: the address.
    public var template: String?
    public var operation: String?
    public var address: String?
    public var commonName: String?
    /// batch: the requests, `peer-add` and `peer-remove` only.
    public var requests: [ControlRequest]?

    public init(command: Command, name: String? = nil, peer: LivePeerFields? = nil, replace: Bool? = nil) {
        self.command = command
        self.name = name
        self.peer = peer
        self.replace = replace
    }
}

/// The keys of a `[[peer]]`, as `peer add` sends them.
public struct LivePeerFields: Codable, Sendable, Hashable {
    public var name: String
    public var match: [String]?
    public var inInterface: String?
    public var outInterface: String?
    public var fwmark: String?
    /// A number, or "none".
    public var mss: String?
    public var mss6: Int?
    public var linkMTU: Int?
    public var encap: [String]?
    public var cipher: String?
    public var integrity: String?

    public init(name: String) { self.name = name }

    /// Validated with the policy file's own reader.
    public func definition() throws(PolicyError) -> PeerDefinition {
        var entries: [(key: String, value: TOMLValue.Kind)] = [("name", .string(name))]
        func list(_ values: [String]) -> TOMLValue.Kind { .array(values.map { TOMLValue(kind: .string($0), line: 0) }) }
        if let match { entries.append(("match", list(match))) }
        if let inInterface { entries.append(("in_interface", .string(inInterface))) }
        if let outInterface { entries.append(("out_interface", .string(outInterface))) }
        if let fwmark { entries.append(("fwmark", .string(fwmark))) }
        if let mss { entries.append(("mss", Int(mss).map { .integer($0) } ?? .string(mss))) }
        if let mss6 { entries.append(("mss6", .integer(mss6))) }
        if let linkMTU { entries.append(("link_mtu", .integer(linkMTU))) }
        if let encap { entries.append(("encap", list(encap))) }
        if let cipher { entries.append(("cipher", .string(cipher))) }
        if let integrity { entries.append(("integrity", .string(integrity))) }
        return try PeerDefinition.validated(entries, source: "peer add")
    }
}

/// One peer as `peer list` shows it.
public struct PeerReport: Codable, Sendable, Hashable {
    public var name: String
    /// "file:LINE" or "live".
    public var origin: String
    public var match: [String]
    public var inInterface: String?
    public var outInterface: String?
    public var fwmark: String?
    /// nil: no clamp.
    public var mss4: UInt16?
    public var mss6: UInt16?
    /// How the ceiling was given ("mss 1300/1280", "link 1500 ipsec-esp-tunnel+nat-t -> mss 1360/1340").
    public var ceiling: String
    public var counters: PeerCounters

    public init(
        name: String, origin: String, match: [String], inInterface: String?, outInterface: String?, fwmark: String?,
        mss4: UInt16?, mss6: UInt16?, ceiling: String, counters: PeerCounters
    ) {
        self.name = name
        self.origin = origin
        self.match = match
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.fwmark = fwmark
        self.mss4 = mss4
        self.mss6 = mss6
        self.ceiling = ceiling
        self.counters = counters
    }
}

/// The daemon's answer.
public struct ControlResponse: Codable, Sendable {
    public var ok: Bool
    public var error: String?
    /// A line for people ("peer \"x\" added: ...").
    public var message: String?
    public var peers: [PeerReport]?
    public var statistics: Statistics?
    /// The defaults and the lowest ceilings in force (peer-list).
    public var defaults: Ceilings?
    public var policyVersion: UInt64?
    /// peer-list: how many peers the policy has in all (`peers` is one page of them).
    public var total: Int?
    /// batch: one answer per request, in order.
    public var responses: [ControlResponse]?
    /// explain: where the address's ceiling comes from.
    public var explanation: Explanation?

    public init(ok: Bool, error: String? = nil, message: String? = nil) {
        self.ok = ok
        self.error = error
        self.message = message
    }
}


