import Foundation

/// The black-hole watch, as `stats` and the metrics show it: what it sampled, what it found, and the
/// ceilings it lowered that are in force now.
public struct BlackHoleReport: Sendable, Codable, Hashable {
    /// An address's detected ceiling.
    public struct Detected: Sendable, Codable, Hashable {
        public var address: String
        public var mss4: UInt16?
        public var mss6: UInt16?
        public var note: String
        /// Seconds since the epoch.
        public var expires: Double

        public init(address: String, mss4: UInt16?, mss6: UInt16?, note: String, expires: Double) {
            self.address = address
            self.mss4 = mss4
            self.mss6 = mss6
            self.note = note
            self.expires = expires
        }
    }

    /// The sampler's nft table and NFLOG group.
    public var table: String
    public var group: UInt16
    /// Segment samples read.
    public var samples: UInt64 = 0
    /// Black-hole signatures per peer, and the ceilings lowered after them.
    public var signatures: [String: UInt64] = [:]
    public var lowered: [String: UInt64] = [:]
    /// Signatures whose sweep showed the segment fits the path (loss, a receiver gone).
    public var dismissed: UInt64 = 0
    public var detected: [Detected] = []

    public init(table: String, group: UInt16) {
        self.table = table
        self.group = group
    }
}
