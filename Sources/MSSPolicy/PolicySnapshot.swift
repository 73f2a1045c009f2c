#if canImport(Glibc)
    import Glibc
#endif
import MSSWire

/// A peer as the hot path sees it: ceilings and the conditions checked after the prefix lookup. Plain
/// data, no references: reading one per packet costs no retain or release (its name is in
/// `PolicySnapshot.peerNames`, at the same index).
public struct CompiledPeer: Sendable, Hashable, BitwiseCopyable {
    public var ceilings: Ceilings
    /// Interface indexes the packet must have come in on / leave on; nil: any. 0 never matches (the named
    /// interface did not exist when the policy was built).
    public var inInterface: UInt32?
    public var outInterface: UInt32?
    public var mark: FirewallMark?
    /// True for peers with no prefixes, matched by interface or mark alone.
    public var unaddressed: Bool

    @inlinable
    func admits(_ metadata: PacketMetadata) -> Bool {
        if let inInterface, inInterface == 0 || inInterface != metadata.inInterface { return false }
        if let outInterface, outInterface == 0 || outInterface != metadata.outInterface { return false }
        if let mark, !mark.matches(metadata.mark) { return false }
        return true
    }
}

/// An immutable policy, built once per version and read by the workers without locks.
public final class PolicySnapshot: Sendable {
    /// Increases with every change; workers compare it once per batch.
    public let version: UInt64
    /// Ceilings for packets no peer claims.
    public let defaults: Ceilings
    /// Insert an MSS option into SYNs that carry none.
    public let insertMissing: Bool
    /// Drop malformed SYNs instead of accepting them unmodified.
    public let dropMalformed: Bool
    /// Compiled peers in index order (file peers, then live peers).
    public let peers: [CompiledPeer]
    /// The definitions behind `peers`, same order.
    public let definitions: [PeerDefinition]
    /// Peer names in index order (decisions name peers by index).
    public let peerNames: [String]
    /// Interface names a peer uses that did not exist when this snapshot was built.
    public let missingInterfaces: [String]
    /// Each interface name a peer uses, with the index it resolved to (0: it did not exist).
    public let interfaceIndexes: [String: UInt32]
    /// True when some peer names an interface (the workers then watch for indexes this snapshot missed).
    public let namesInterfaces: Bool
    @usableFromInline let table4: PrefixTable4
    @usableFromInline let table6: PrefixTable6
    /// Indexes of peers without prefixes, in order; every one that admits a packet is a candidate.
    @usableFromInline let unaddressed: [Int32]

    /// The name counters use for packets no peer claims.
    public static let defaultPeerName = "(default)"

    /// A policy with defaults only.
    public convenience init(version: UInt64 = 1, defaults: Ceilings, insertMissing: Bool = true) {
        // An empty policy cannot conflict.
        try! self.init(
            version: version, configuration: PolicyConfiguration(defaults: defaults, insertMissing: insertMissing),
            interfaceIndex: { _ in nil })
    }

    /// Compiles a configuration plus live peers.
    /// - Parameters:
    ///   - interfaceIndex: resolves interface names (`if_nametoindex` by default); nil when absent.
    /// - Throws: conflicts between the peers (duplicate names, a prefix claimed twice).
    public init(
        version: UInt64, configuration: PolicyConfiguration, livePeers: [PeerDefinition] = [],
        interfaceIndex: (String) -> UInt32? = PolicySnapshot.systemInterfaceIndex
    ) throws(PolicyError) {
        let all = configuration.peers + livePeers
        let conflicts = PolicyConfiguration.conflicts(in: all, file: configuration.file ?? "peer add")
        guard conflicts.isEmpty else { throw PolicyError(conflicts) }
        self.version = version
        defaults = configuration.defaults
        insertMissing = configuration.insertMissing
        dropMalformed = configuration.dropMalformed
        definitions = all
        peerNames = all.map(\.name)
        var missing: [String] = []
        var resolved: [String: UInt32] = [:]
        func resolve(_ name: String?) -> UInt32? {
            guard let name else { return nil }
            if let index = resolved[name] { return index }
            let index = interfaceIndex(name) ?? 0
            if index == 0 { missing.append(name) }
            resolved[name] = index
            return index
        }
        var compiled: [CompiledPeer] = []
        var entries4: [(IPv4Prefix, Int32)] = []
        var entries6: [(IPv6Prefix, Int32)] = []
        var unaddressed: [Int32] = []
        for (index, peer) in all.enumerated() {
            compiled.append(
                CompiledPeer(
                    ceilings: peer.ceiling.ceilings, inInterface: resolve(peer.inInterface),
                    outInterface: resolve(peer.outInterface), mark: peer.fwmark, unaddressed: peer.match.isEmpty))
            if peer.match.isEmpty { unaddressed.append(Int32(index)) }
            for prefix in Set(peer.match) {
                switch prefix {
                case .v4(let p): entries4.append((p, Int32(index)))
                case .v6(let p): entries6.append((p, Int32(index)))
                }
            }
        }
        peers = compiled
        missingInterfaces = missing
        interfaceIndexes = resolved
        namesInterfaces = !resolved.isEmpty
        self.unaddressed = unaddressed
        table4 = PrefixTable4(entries4)
        table6 = PrefixTable6(entries6)
    }

    /// `if_nametoindex`, nil when the interface does not exist.
    public static func systemInterfaceIndex(_ name: String) -> UInt32? {
        let index = if_nametoindex(name)
        return index == 0 ? nil : index
    }

    /// `if_indextoname`, nil when no interface has that index (0 included).
    public static func systemInterfaceName(_ index: UInt32) -> String? {
        guard index != 0 else { return nil }
        var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &name) != nil else { return nil }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The ceiling for `segment`: the lowest among the peers that claim its source, its destination, and
    /// the interface- or mark-only peers that admit it; the defaults when none does.
    @inlinable
    public func decide(_ segment: SYNSegment, packet: UnsafeRawBufferPointer, metadata: PacketMetadata) -> ClampDecision {
        let source: Int32
        let destination: Int32
        if segment.family == .ipv4 {
            source = table4.lookup(IPv4Prefix.load(from: packet, offset: segment.sourceAddressOffset))
            destination = table4.lookup(IPv4Prefix.load(from: packet, offset: segment.destinationAddressOffset))
        } else {
            source = table6.lookup(IPv6Prefix.load(from: packet, offset: segment.sourceAddressOffset))
            destination = table6.lookup(IPv6Prefix.load(from: packet, offset: segment.destinationAddressOffset))
        }
        var chosen: Int32 = -1
        var ceiling: UInt16? = nil
        var claimed = false
        @inline(__always) func consider(_ index: Int32) {
            guard index >= 0 else { return }
            let peer = peers[Int(index)]
            guard peer.admits(metadata) else { return }
            let value = peer.ceilings.ceiling(for: segment.family)
            // The lower ceiling wins; "no clamp" (nil) loses to any value.
            if !claimed || (value != nil && (ceiling == nil || value! < ceiling!)) {
                chosen = index
                ceiling = value
                claimed = true
            }
        }
        consider(source)
        if destination != source { consider(destination) }
        for index in unaddressed { consider(index) }
        guard claimed else { return ClampDecision(ceiling: defaults.ceiling(for: segment.family), peer: -1) }
        return ClampDecision(ceiling: ceiling, peer: Int(chosen))
    }

    /// The lowest ceiling any packet can get, per family: the rule prefilter queues only SYNs above it.
    public var lowestCeilings: Ceilings {
        peers.reduce(defaults) { $0.lowered(by: $1.ceilings) }
    }
}
