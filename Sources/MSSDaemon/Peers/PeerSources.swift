import Foundation
import Logging
import MSSControl
import MSSPolicy
import MSSProbe
import MSSProcess
import MSSSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Turns templates into peers: the WireGuard peers of an interface (WireGuardSource.swift), the
/// addresses a VPN's learn-address hook reports (LearnAddressSource.swift) and strongSwan's CHILD_SAs
/// (StrongSwanSource.swift, IPsecPeers.swift). Each becomes a policy peer
/// matched by its addresses, with the template's ceiling or, for `mss = "auto"`, its own measured one
/// (AutoCeilings, AutoTargets.swift).
final class PeerSources: @unchecked Sendable {
    struct WireGuardPeer: Sendable, Hashable {
        var allowed: [IPPrefix]
        var endpoint: String?
    }

    struct LearnedPeer: Sendable, Hashable {
        var addresses: [IPPrefix]
    }

    struct State {
        var wireguard: [String: [String: WireGuardPeer]] = [:]  // template -> public key -> peer
        var learned: [String: [String: LearnedPeer]] = [:]  // template -> common name -> addresses
        var published: [String: Set<String>] = [:]  // template -> peer names in force
        var refused: Set<String> = []
        /// learn-address templates whose peers changed and are not published yet (`followUp`).
        var unpublished: Set<String> = []
        var failing: [String: String] = [:]  // template -> last `wg` error, logged once
        var ipsec: [String: [IPsecSAReport]] = [:]  // template -> its SAs' proposals and ceilings
        var assumed: Set<String> = []  // the unknown-algorithm notes logged once
    }

    static let pollMilliseconds: Int64 = 1000
    /// The templates of the last poll: a reload that changes them renders every template anew.
    var lastTemplates: [PeerTemplate] = []

    let policy: PolicyManager
    let auto: AutoCeilings
    let logger: Logger
    let state = Mutex(State())
    let stopping = Atomic(false)
    var thread: NamedThread?
    let lock = Mutex(())

    let changed: @Sendable (PolicySnapshot) -> Void
    /// Publishes what learn-address taught and keeps it in the learned file, once for any number of
    /// learns meanwhile: a learn is answered as soon as it is taken, so OpenVPN, which waits for its
    /// hook, never waits for a policy of 10,000 peers to compile.
    var followUp: CoalescedJob!
    /// charon's CHILD_SAs, for `strongswan = "CONN"` templates.
    var strongswan: StrongSwanSource!
    /// Where the learned addresses are kept across restarts (OpenVPN reports a client once, when it
    /// connects); nil keeps them in memory only.
    let learnedPath: String?

    /// - Parameters:
    ///   - changed: called with each snapshot a source published (the rules and the safety net follow
    ///     it), outside this object's locks.
    ///   - learnedPath: the file that keeps learned addresses across restarts.
    init(
        policy: PolicyManager, auto: AutoCeilings, logger: Logger, learnedPath: String? = nil,
        changed: @escaping @Sendable (PolicySnapshot) -> Void
    ) {
        self.policy = policy
        self.changed = changed
        self.learnedPath = learnedPath
        self.auto = auto
        self.logger = logger
        auto.onChange = { [unowned self] template in publish(template) }
        followUp = CoalescedJob(minimumGap: 50) { [unowned self] in
            let templates = state.withLock { state in
                defer { state.unpublished.removeAll() }
                return state.unpublished
            }
            saveLearned()
            for template in templates.sorted() { publish(template) }
        }
        strongswan = StrongSwanSource(
            logger: logger,
            socket: { [unowned self] in
                let configuration = policy.configuration
                return configuration.templates.contains(where: \.isStrongSwan) ? configuration.strongswanSocket : nil
            },
            changed: { [unowned self] in
                for template in policy.configuration.templates where template.isStrongSwan { publish(template.name) }
            })
    }

    func start() {
        restoreLearned()
        followUp.start()
        auto.start()
        strongswan.start()
        thread = NamedThread(name: "mssclamp-peers") { [self] in
            var last: Int64 = 0
            while !stopping.load(ordering: .relaxed) {
                let now = monotonicMilliseconds()
                if now - last >= Self.pollMilliseconds {
                    last = now
                    pollWireGuard()
                }
                usleep(100_000)
            }
        }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        thread?.join()
        thread = nil
        followUp.stop()
        strongswan.stop()
        auto.stop()
    }

    /// Renders the template's peers from what its source reported and hands them to the policy.
    func publish(_ templateName: String) {
        if let snapshot = render(templateName) { changed(snapshot) }
    }

    /// One peer as its source reports it.
    struct SourcedPeer {
        var key: String
        var match: [IPPrefix]
        var endpoint: String?
        var detail: String
        /// The ceiling the source computed itself (an IPsec SA's, from its proposal): what a `.perSA`
        /// template gives, and an auto peer's fallback.
        var own: PeerCeiling?
    }

    /// The template's peers as its source last reported them.
    func sourcedPeers(_ template: PeerTemplate) -> [SourcedPeer] {
        switch template.source {
        case .wireguard(let interface):
            return state.withLock { $0.wireguard[template.name] ?? [:] }.sorted { $0.key < $1.key }.map { key, peer in
                SourcedPeer(
                    key: String(key.prefix(10)), match: peer.allowed, endpoint: peer.endpoint,
                    detail: "wireguard \(interface) peer \(key.prefix(10))…")
            }
        case .learnAddress:
            return state.withLock { $0.learned[template.name] ?? [:] }.sorted { $0.key < $1.key }.map { key, peer in
                SourcedPeer(key: key, match: peer.addresses, endpoint: nil, detail: "learn-address \(key)")
            }
        case .strongswan:
            return ipsecPeers(template)
        }
    }

    /// Hands the template's peers to the policy; returns the snapshot when the policy changed.
    func render(_ templateName: String) -> PolicySnapshot? {
        lock.withLock { _ -> PolicySnapshot? in
            let template = policy.configuration.templates.first { $0.name == templateName }
            var definitions: [PeerDefinition] = []
            if let template {
                let sources = sourcedPeers(template)
                // The host's own addresses, read once per rendering: never a probe target.
                var local: [IPPrefix]?
                for source in sources where !source.match.isEmpty {
                    let name = template.peerName(source.key)
                    let ceiling: PeerCeiling
                    switch template.ceiling {
                    case .given(let given):
                        ceiling = given
                    case .perSA:
                        ceiling = source.own ?? .fixed(policy.store.snapshot.defaults)
                    case .auto(let fallback):
                        let address = Self.probeAddress(source.match)
                        let (fallbackCeilings, fallbackSource) = fallback == nil && source.own != nil
                            ? (source.own!.ceilings, source.own!.summary) : fallbackFor(fallback, address: address)
                        if local == nil { local = Self.localAddresses() }
                        var target = AutoCeilings.Target(
                            peer: name, template: templateName, address: address, endpoint: source.endpoint,
                            fallback: fallbackCeilings, fallbackSource: fallbackSource,
                            needsEndpoint: template.source != .learnAddress)
                        target.unmeasurable = Self.probeRefusal(address, template: template, local: local ?? [])
                        let (ceilings, note) = auto.track(target)
                        ceiling = .measured(ceilings, note: note)
                    }
                    definitions.append(
                        PeerDefinition(name: name, match: source.match, ceiling: ceiling, origin: .source(template: templateName, detail: source.detail)))
                }
            }
            auto.retain(Set(definitions.map(\.name)), template: templateName)
            let (snapshot, refused) = policy.replaceSourced(template: templateName, with: definitions)
            let names = Set(definitions.map(\.name)).subtracting(refused.map(\.name))
            let (added, removed, newlyRefused) = state.withLock { state in
                let before = state.published[templateName] ?? []
                state.published[templateName] = template == nil ? nil : names
                if template == nil { state.ipsec[templateName] = nil }
                let fresh = refused.filter { !state.refused.contains($0.name) }
                state.refused.formUnion(refused.map(\.name))
                state.refused.subtract(names)
                return (names.subtracting(before), before.subtracting(names), fresh)
            }
            for peer in definitions where added.contains(peer.name) {
                logger.info("peer \"\(peer.name)\" from \(template.map { "\($0.source)" } ?? "?"): \(peer.match.map(\.description).joined(separator: ", ")), \(peer.ceiling.summary)")
            }
            for name in removed.sorted() { logger.info("peer \"\(name)\" gone (its source no longer reports it)") }
            for (name, reason) in newlyRefused { logger.warning("peer \"\(name)\" not added: \(reason)") }
            if let snapshot, !added.isEmpty || !removed.isEmpty {
                logger.info("policy version \(snapshot.version): \(snapshot.peers.count) peer(s)")
            }
            return snapshot
        }
    }
}
