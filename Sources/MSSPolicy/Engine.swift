import MSSWire

/// What the queue knows about a packet besides its bytes.
public struct PacketMetadata: Sendable, Hashable {
    public var inInterface: UInt32
    public var outInterface: UInt32
    public var mark: UInt32
    /// False when NFQUEUE flagged NFQA_SKB_CSUMNOTREADY.
    public var checksumReady: Bool

    public init(inInterface: UInt32 = 0, outInterface: UInt32 = 0, mark: UInt32 = 0, checksumReady: Bool = true) {
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.mark = mark
        self.checksumReady = checksumReady
    }
}

/// The clamp decision for one packet: the policy's ceiling and the peer it was attributed to.
public struct ClampDecision: Sendable, Hashable {
    /// nil: exempt from clamping.
    public var ceiling: UInt16?
    /// Index into the policy's peers, or -1 for the defaults.
    public var peer: Int

    public init(ceiling: UInt16?, peer: Int) {
        self.ceiling = ceiling
        self.peer = peer
    }
}

/// The one engine behind the daemon and the offline tool: classify, decide, rewrite.
public enum ClampEngine {
    /// Rewrites the IP packet in `buffer` (length in and out) under `policy`.
    /// - Returns: the outcome, the index of the peer it was attributed to (-1: defaults or none), and
    ///   whether the SYN's smallest MSS was tiny (`SYNSegment.hasTinyMSS`), as it arrived.
    @inlinable
    public static func process(
        _ buffer: UnsafeMutableRawBufferPointer, length: inout Int, metadata: PacketMetadata, policy: PolicySnapshot
    ) -> (outcome: RewriteOutcome, peer: Int, tinyMSS: Bool) {
        let segment: SYNSegment
        switch SYNSegment.classify(UnsafeRawBufferPointer(rebasing: buffer[0..<length])) {
        case .final(let outcome): return (outcome, -1, false)
        case .syn(let syn): segment = syn
        }
        let decision = policy.decide(segment, packet: UnsafeRawBufferPointer(buffer), metadata: metadata)
        guard let ceiling = decision.ceiling else { return (.exempt, decision.peer, segment.hasTinyMSS) }
        let settings = RewriteSettings(insertMissing: policy.insertMissing, checksumReady: metadata.checksumReady)
        let outcome = MSSRewrite.apply(ceiling: ceiling, to: segment, in: buffer, length: &length, settings: settings)
        return (outcome, decision.peer, segment.hasTinyMSS)
    }
}
