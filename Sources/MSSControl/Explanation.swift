/// Where an address's ceiling comes from, as `mssclamp explain ADDRESS` shows it.
public struct Explanation: Codable, Sendable, Hashable {
    public var address: String
    /// The peer whose match holds the address (the longest prefix); nil: no peer, the defaults hold.
    public var peer: PeerReport?
    /// The prefix of `peer` that holds the address.
    public var matched: String?
    public var mss4: UInt16?
    public var mss6: UInt16?
    /// How the ceiling was reached, one step a line, outermost first.
    public var steps: [String]

    public init(address: String, peer: PeerReport?, matched: String?, mss4: UInt16?, mss6: UInt16?, steps: [String]) {
        self.address = address
        self.peer = peer
        self.matched = matched
        self.mss4 = mss4
        self.mss6 = mss6
        self.steps = steps
    }
}
