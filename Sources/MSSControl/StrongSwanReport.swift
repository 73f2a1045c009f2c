/// The strongSwan source as `stats` and the metrics show it: the VICI connection and every SA's ceiling.
public struct StrongSwanReport: Sendable, Codable, Hashable {
    /// charon's VICI socket.
    public var socket: String
    public var connected: Bool
    /// Seconds since the epoch when the connection was made or lost.
    public var since: Double?
    /// Why it is not connected (the last error), for people.
    public var error: String?
    public var sas: [IPsecSAReport]

    public init(socket: String, connected: Bool, since: Double?, error: String?, sas: [IPsecSAReport]) {
        self.socket = socket
        self.connected = connected
        self.since = since
        self.error = error
        self.sas = sas
    }
}

/// One CHILD_SA: its proposal and the ceiling that proposal gave its peer.
public struct IPsecSAReport: Sendable, Codable, Hashable {
    public var peer: String
    /// "rw/net".
    public var connection: String
    /// The CHILD_SA's unique id in charon.
    public var childID: String
    public var remoteHost: String
    /// "ESP AES_GCM_16-256 in UDP, IPv4 outer".
    public var proposal: String
    /// The link the ceiling was computed on, and where that number came from ("link_mtu", "route").
    public var linkMTU: Int?
    public var linkSource: String
    public var mss4: UInt16?
    public var mss6: UInt16?
    /// What had to be assumed (an algorithm calc does not know), or nil.
    public var assumed: String?

    public init(
        peer: String, connection: String, childID: String, remoteHost: String, proposal: String, linkMTU: Int?,
        linkSource: String, mss4: UInt16?, mss6: UInt16?, assumed: String?
    ) {
        self.peer = peer
        self.connection = connection
        self.childID = childID
        self.remoteHost = remoteHost
        self.proposal = proposal
        self.linkMTU = linkMTU
        self.linkSource = linkSource
        self.mss4 = mss4
        self.mss6 = mss6
        self.assumed = assumed
    }
}
