import MSSPolicy

// Reading charon's view of its SAs: the IKE_SA sections of `list-sa`, `child-updown`, `child-rekey`,
// `ike-updown`, `ike-rekey` and `ike-update` events (README, "Server-issued events"), down to what a peer
// needs: which connection, which remote traffic selectors, which outer address, which proposal.

/// One installed CHILD_SA, as a peer source needs it.
public struct IPsecChildSA: Sendable, Hashable {
    /// The IKE_SA's configuration name (swanctl.conf's connection, e.g. "rw").
    public var connection: String
    /// The IKE_SA's unique id (changes when the IKE_SA is rekeyed).
    public var ikeID: String
    /// The CHILD_SA's configuration name (e.g. "net").
    public var child: String
    /// The CHILD_SA's unique id (changes when the CHILD_SA is rekeyed).
    public var childID: String
    /// The IKE_SA's `remote-host` and `remote-port`: the outer address ESP goes to.
    public var remoteHost: String
    public var remotePort: String?
    /// The IKE_SA's `remote-identity`, for people.
    public var remoteIdentity: String?
    /// The CHILD_SA's `remote-ts`: what the peer matches.
    public var remoteSelectors: [String]
    public var proposal: IPsecProposal

    public init(
        connection: String, ikeID: String, child: String, childID: String, remoteHost: String, remotePort: String? = nil,
        remoteIdentity: String? = nil, remoteSelectors: [String], proposal: IPsecProposal
    ) {
        self.connection = connection
        self.ikeID = ikeID
        self.child = child
        self.childID = childID
        self.remoteHost = remoteHost
        self.remotePort = remotePort
        self.remoteIdentity = remoteIdentity
        self.remoteSelectors = remoteSelectors
        self.proposal = proposal
    }

    /// The outer address and port as an endpoint ("192.0.2.2:4500", "[2001:db8::2]:4500"), the form the auto
    /// ceilings take for WireGuard endpoints too.
    public var endpoint: String {
        let port = remotePort ?? "500"
        return remoteHost.contains(":") ? "[\(remoteHost)]:\(port)" : "\(remoteHost):\(port)"
    }

    /// The remote traffic selectors as prefixes. charon writes a selector as "10.9.0.2/32", with
    /// "[proto/port]" when it is narrowed, or as a range "a..b" when it is not a prefix; a range becomes the
    /// prefixes that cover it exactly. What cannot be read is returned in `unreadable`.
    public var remotePrefixes: (prefixes: [IPPrefix], unreadable: [String]) {
        var prefixes: [IPPrefix] = []
        var unreadable: [String] = []
        for selector in remoteSelectors {
            let address = selector.split(separator: "[", maxSplits: 1).first.map(String.init) ?? selector
            if let prefix = try? IPPrefix(parsing: address) {
                prefixes.append(prefix)
            } else if let range = IPPrefix.covering(range: address) {
                prefixes += range
            } else {
                unreadable.append(selector)
            }
        }
        return (prefixes, unreadable)
    }
}

/// The CHILD_SAs in charon's messages.
public enum StrongSwanSAs {
    /// The installed CHILD_SAs of one IKE_SA section (`name` is the section's key: the connection).
    public static func children(connection: String, ike: VICIMessage) -> [IPsecChildSA] {
        guard let children = ike.section("child-sas") else { return [] }
        return children.sections.compactMap { key, child in
            Self.child(connection: connection, ike: ike, key: key, child: child)
        }
    }

    /// One CHILD_SA section; nil when it is not installed or lacks what a peer needs.
    public static func child(connection: String, ike: VICIMessage, key: String, child: VICIMessage) -> IPsecChildSA? {
        let state = child.string("state") ?? "INSTALLED"
        guard state == "INSTALLED" || state == "REKEYING" || state == "UPDATING" else { return nil }
        guard let childID = child.string("uniqueid"), let remoteHost = ike.string("remote-host") else { return nil }
        let proposal = IPsecProposal(
            protocolName: child.string("protocol") ?? "ESP", encryption: child.string("encr-alg"),
            keySize: child.string("encr-keysize").flatMap { Int($0) }, integrity: child.string("integ-alg"),
            udpEncapsulated: child.string("encap") == "yes", mode: child.string("mode") ?? "TUNNEL",
            outerIPv6: remoteHost.contains(":"))
        return IPsecChildSA(
            connection: connection, ikeID: ike.string("uniqueid") ?? "", child: child.string("name") ?? key,
            childID: childID, remoteHost: remoteHost, remotePort: ike.string("remote-port"),
            remoteIdentity: ike.string("remote-id"), remoteSelectors: child.strings("remote-ts"), proposal: proposal)
    }

    /// The IKE_SA sections of an event: every section but the `child-sas`-less bookkeeping ones.
    public static func ikeSections(_ message: VICIMessage) -> [(connection: String, ike: VICIMessage)] {
        message.sections.map { ($0.name, $0.section) }
    }
}
