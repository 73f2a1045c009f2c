import MSSWire

/// An immutable policy, built once per version and read by the workers without locks.
public final class PolicySnapshot: Sendable {
    /// Increases with every change; workers compare it once per batch.
    public let version: UInt64
    /// Ceilings for packets no peer claims.
    public let defaults: Ceilings
    /// Insert an MSS option into SYNs that carry none.
    public let insertMissing: Bool
    /// Peer names in index order (decisions name peers by index).
    public let peerNames: [String]

    /// The name counters use for packets no peer claims.
    public static let defaultPeerName = "(default)"

    public init(version: UInt64 = 1, defaults: Ceilings, insertMissing: Bool = true) {
        self.version = version
        self.defaults = defaults
        self.insertMissing = insertMissing
        peerNames = []
    }

    /// The ceiling for `segment`.
    @inlinable
    public func decide(_ segment: SYNSegment, packet: UnsafeRawBufferPointer, metadata: PacketMetadata) -> ClampDecision {
        ClampDecision(ceiling: defaults.ceiling(for: segment.family), peer: -1)
    }

    /// The lowest ceiling any packet can get, per family: the rule prefilter queues only SYNs above it.
    public var lowestCeilings: Ceilings { defaults }
}
