import Foundation
import Logging
import MSSPolicy
import MSSProbe
import MSSProcess
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Turns templates into peers: the WireGuard peers of an interface (read with `wg show` every second:
/// adds, removes and roams show within that) and the addresses a VPN's learn-address hook
/// reports. Each becomes a policy peer matched by its addresses, with the template's ceiling or, for
/// `mss = "auto"`, its own measured one (AutoCeilings).
///
/// `wg show IFACE allowed-ips` and `wg show IFACE endpoints` are read rather than `wg show IFACE dump`:
/// the dump starts with the interface's private key, which this daemon has no business reading. `wg`
/// speaks to the kernel module over netlink and to wireguard-go over its UAPI socket
/// (/var/run/wireguard/IFACE.sock), so both work; the UAPI socket is root's, so a daemon started with
/// `--user` cannot read wireguard-go's peers.
final class PeerSources: @unchecked Sendable {
    struct WireGuardPeer: Sendable, Hashable {
        var allowed: [IPPrefix]
        var endpoint: String?
    }

    struct LearnedPeer: Sendable, Hashable {
        var addresses: [IPPrefix]
    }

    private struct State {
        var wireguard: [String: [String: WireGuardPeer]] = [:]  // template -> public key -> peer
        var learned: [String: [String: LearnedPeer]] = [:]  // template -> common name -> addresses
        var published: [String: Set<String>] = [:]  // template -> peer names in force
        var refused: Set<String> = []
        /// learn-address templates whose peers changed and are not published yet (`followUp`).
        var unpublished: Set<String> = []
        var failing: [String: String] = [:]  // template -> last `wg` error, logged once
    }

    static let pollMilliseconds: Int64 = 1000

    private let policy: PolicyManager
    let auto: AutoCeilings
    private let logger: Logger
    private let state = Mutex(State())
    private let stopping = Atomic(false)
    private var thread: WorkerThread?
    private let lock = Mutex(())

    private let changed: @Sendable (PolicySnapshot) -> Void
    /// Publishes what learn-address taught and keeps it in the learned file, once for any number of
    /// learns meanwhile: a learn is answered as soon as it is taken, so OpenVPN, which waits for its
    /// hook, never waits for a policy of 10,000 peers to compile.
    private var followUp: CoalescedJob!
    /// Where the learned addresses are kept across restarts (OpenVPN reports a client once, when it
    /// connects); nil keeps them in memory only.
    private let learnedPath: String?

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
    }

    func start() {
        restoreLearned()
        followUp.start()
        auto.start()
        thread = WorkerThread(name: "mssclamp-peers") { [self] in
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
        auto.stop()
    }

    /// The control socket's `learn` request; `trusted` when root sent it (a template without
    /// `learn_within` learns from root only).
    func handleLearn(_ request: ControlRequest, trusted: Bool = true) -> ControlResponse {
        guard let template = request.template, let operation = request.operation, let address = request.address else {
            return ControlResponse(ok: false, error: "learn needs a template, an operation and an address")
        }
        guard ["add", "update", "delete"].contains(operation) else {
            return ControlResponse(ok: false, error: "learn-address operations are add, update and delete, got '\(operation)'")
        }
        switch learn(template: template, operation: operation, address: address, commonName: request.commonName, trusted: trusted) {
        case .success(let message): return ControlResponse(ok: true, message: message)
        case .failure(let error): return ControlResponse(ok: false, error: error.description)
        }
    }

    // MARK: WireGuard

    private var lastTemplates: [PeerTemplate] = []

    private func pollWireGuard() {
        let templates = policy.configuration.templates
        if templates != lastTemplates {
            // A reload changed the templates: every template's peers are rendered anew (ceilings given,
            // fallbacks), and learn-address ones need no poll to show it.
            lastTemplates = templates
            for template in templates { publish(template.name) }
        }
        for template in templates {
            guard case .wireguard(let interface) = template.source else { continue }
            let peers = Self.readWireGuard(interface)
            switch peers {
            case .success(let peers):
                let changed = state.withLock { state -> Bool in
                    state.failing[template.name] = nil
                    guard state.wireguard[template.name] != peers else { return false }
                    state.wireguard[template.name] = peers
                    return true
                }
                if changed { publish(template.name) }
            case .failure(let message):
                let first = state.withLock { state -> Bool in
                    defer { state.failing[template.name] = message }
                    return state.failing[template.name] != message
                }
                if first { logger.warning("peer \"\(template.name)\": cannot read wireguard \(interface): \(message)") }
                // Gone for good only when the interface is: a `wg` that failed once keeps the peers.
                if if_nametoindex(interface) == 0 {
                    let had = state.withLock { state -> Bool in
                        defer { state.wireguard[template.name] = [:] }
                        return !(state.wireguard[template.name]?.isEmpty ?? true)
                    }
                    if had { publish(template.name) }
                }
            }
        }
        // Templates a reload took away: their peers go.
        let names = Set(templates.map(\.name))
        let gone = state.withLock { state in
            Set(state.published.keys).subtracting(names)
        }
        for template in gone { publish(template) }
    }

    enum ReadResult: Equatable {
        case success([String: WireGuardPeer])
        case failure(String)
    }

    static func readWireGuard(_ interface: String) -> ReadResult {
        let allowed: ChildResult
        let endpoints: ChildResult
        do {
            allowed = try ChildProcess.run(["wg", "show", interface, "allowed-ips"], timeout: 5)
            guard allowed.status == 0 else { return .failure(allowed.error.trimmedLine) }
            endpoints = try ChildProcess.run(["wg", "show", interface, "endpoints"], timeout: 5)
            guard endpoints.status == 0 else { return .failure(endpoints.error.trimmedLine) }
        } catch {
            return .failure("\(error)")
        }
        return .success(parse(allowedIPs: allowed.output, endpoints: endpoints.output))
    }

    /// `wg show IFACE allowed-ips` ("KEY<TAB>PREFIX PREFIX" or "(none)") and `... endpoints`
    /// ("KEY<TAB>HOST:PORT" or "(none)").
    static func parse(allowedIPs: String, endpoints: String) -> [String: WireGuardPeer] {
        var peers: [String: WireGuardPeer] = [:]
        for line in allowedIPs.split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 1)
            guard fields.count == 2 else { continue }
            let prefixes = fields[1].split(separator: " ").compactMap { try? IPPrefix(parsing: String($0)) }
            peers[String(fields[0])] = WireGuardPeer(allowed: prefixes, endpoint: nil)
        }
        for line in endpoints.split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 1)
            guard fields.count == 2, fields[1] != "(none)" else { continue }
            peers[String(fields[0])]?.endpoint = String(fields[1])
        }
        return peers
    }

    // MARK: learn-address

    /// `add|update ADDRESS [CN]` makes ADDRESS a match of the peer named after CN (or the address);
    /// `delete ADDRESS` takes it away. An address outside the template's bounds (`LearnBounds`: host
    /// addresses inside `learn_within`, at most `learn_max`, never special-use or the host's own) is
    /// refused and logged. Returns what was done, or why not.
    func learn(template name: String, operation: String, address: String, commonName: String?, trusted: Bool = true)
        -> Result<String, PolicyError>
    {
        func failure(_ message: String) -> Result<String, PolicyError> {
            .failure(PolicyError([PolicyDiagnostic(file: "learn-address", line: 0, key: "", message: message)]))
        }
        guard let template = policy.configuration.templates.first(where: { $0.name == name }) else {
            return failure("no template \"\(name)\" in the policy (a [[peer]] with learn_address = true)")
        }
        guard template.source == .learnAddress else {
            return failure("peer \"\(name)\" takes its peers from \(template.source), not from learn-address")
        }
        // OpenVPN in TAP mode reports MAC addresses: nothing to clamp by.
        guard let prefix = try? IPPrefix(parsing: address) else {
            return .success("ignored \(address): not an IP address or prefix")
        }
        let adding = operation != "delete"
        if adding {
            var refusal = template.learning.refusal(prefix)
            if refusal == nil, !trusted, template.learning.within.isEmpty {
                refusal = "template \"\(name)\" has no learn_within: only root may teach it addresses (give the VPN's pool in learn_within)"
            }
            if refusal == nil, Self.localAddresses().contains(where: { prefix.covers($0) }) {
                refusal = "\(prefix) holds an address of this host"
            }
            if let refusal {
                logger.warning("learn-address \(operation) \(address) for \"\(name)\" refused: \(refusal)")
                return failure(refusal)
            }
        }
        let key = commonName.flatMap { $0.isEmpty ? nil : $0 } ?? prefix.description
        let full = state.withLock { state -> Bool in
            var peers = state.learned[name] ?? [:]
            // An address belongs to one client: take it from whoever had it.
            for (other, var peer) in peers where peer.addresses.contains(prefix) {
                peer.addresses.removeAll { $0 == prefix }
                peers[other] = peer.addresses.isEmpty ? nil : peer
            }
            if adding {
                let count = peers.values.reduce(0) { $0 + $1.addresses.count }
                guard count < template.learning.maximum else { return true }
                peers[key, default: LearnedPeer(addresses: [])].addresses.append(prefix)
            }
            state.learned[name] = peers
            state.unpublished.insert(name)
            return false
        }
        if full {
            let message = "template \"\(name)\" has learned \(template.learning.maximum) address(es), its learn_max: \(prefix) refused"
            logger.warning("learn-address \(operation) \(address): \(message)")
            return failure(message)
        }
        followUp.request()
        return .success(adding ? "\(template.peerName(key)) matches \(prefix)" : "\(prefix) removed")
    }

    /// The host's own addresses, as prefixes.
    static func localAddresses() -> [IPPrefix] {
        LocalAddresses.current().compactMap { try? IPPrefix(parsing: $0) }
    }

    /// Writes the learned addresses (template -> common name -> prefixes) to `learnedPath`, atomically.
    private func saveLearned() {
        guard let learnedPath else { return }
        let learned = state.withLock { state in
            state.learned.mapValues { peers in peers.mapValues { $0.addresses.map(\.description) } }
        }
        do {
            try AtomicFile.write(Array(try JSONEncoder().encode(learned)), to: learnedPath, mode: 0o600)
        } catch {
            logger.warning("cannot keep the learned addresses in \(learnedPath): \(error)")
        }
    }

    /// Takes back what an earlier run learned, for the templates the policy still has. A file that cannot
    /// be read as learned peers is moved aside (never overwritten by the next learn) and named in the log.
    private func restoreLearned() {
        guard let learnedPath, let data = FileManager.default.contents(atPath: learnedPath) else { return }
        guard let learned = try? JSONDecoder().decode([String: [String: [String]]].self, from: data) else {
            let aside = AtomicFile.keepAside(learnedPath)
            logger.warning(
                "the learned-peers file \(learnedPath) is corrupt (\(data.count) bytes, not learned peers): \(aside.map { "kept aside as \($0)" } ?? "it could not be moved aside"); starting with no learned peers")
            return
        }
        let templates = Set(policy.configuration.templates.filter { $0.source == .learnAddress }.map(\.name))
        var restored = 0
        state.withLock { state in
            for (template, peers) in learned where templates.contains(template) {
                state.learned[template] = peers.compactMapValues { addresses in
                    let prefixes = addresses.compactMap { try? IPPrefix(parsing: $0) }
                    return prefixes.isEmpty ? nil : LearnedPeer(addresses: prefixes)
                }
                restored += state.learned[template]?.count ?? 0
            }
        }
        guard restored > 0 else { return }
        logger.info("\(restored) learned peer(s) taken back from \(learnedPath)")
        for template in templates { publish(template) }
    }

    // MARK: publishing

    /// Renders the template's peers from what its source reported and hands them to the policy.
    func publish(_ templateName: String) {
        if let snapshot = render(templateName) { changed(snapshot) }
    }

    /// Hands the template's peers to the policy; returns the snapshot when the policy changed.
    private func render(_ templateName: String) -> PolicySnapshot? {
        lock.withLock { _ -> PolicySnapshot? in
            let template = policy.configuration.templates.first { $0.name == templateName }
            var definitions: [PeerDefinition] = []
            if let template {
                let sources: [(key: String, match: [IPPrefix], endpoint: String?, detail: String)] = state.withLock { state in
                    switch template.source {
                    case .wireguard(let interface):
                        return (state.wireguard[templateName] ?? [:]).sorted { $0.key < $1.key }.map { key, peer in
                            (String(key.prefix(10)), peer.allowed, peer.endpoint, "wireguard \(interface) peer \(key.prefix(10))…")
                        }
                    case .learnAddress:
                        return (state.learned[templateName] ?? [:]).sorted { $0.key < $1.key }.map { key, peer in
                            (key, peer.addresses, nil, "learn-address \(key)")
                        }
                    }
                }
                // The host's own addresses, read once per rendering: never a probe target.
                var local: [IPPrefix]?
                for source in sources where !source.match.isEmpty {
                    let name = template.peerName(source.key)
                    let ceiling: PeerCeiling
                    switch template.ceiling {
                    case .given(let given):
                        ceiling = given
                    case .auto(let fallback):
                        let address = Self.probeAddress(source.match)
                        let (fallbackCeilings, fallbackSource) = fallbackFor(fallback, address: address)
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

    /// What an auto peer gets when it does not answer: the template's fallback, else the MTU of the route
    /// to it (the tunnel interface's) less the headers but never above the defaults, else the defaults.
    private func fallbackFor(_ given: PeerCeiling?, address: String) -> (Ceilings, String) {
        if let given { return (given.ceilings, given.summary) }
        let defaults = policy.store.snapshot.defaults
        if let mtu = EchoSweep.routeMTU(to: address) {
            let route = Ceilings(ipv4: UInt16(clamping: max(88, mtu - 40)), ipv6: UInt16(clamping: max(88, mtu - 60)))
            let lowered = AutoCeilings.lower(route, defaults)
            return (lowered, lowered == route ? "route MTU \(mtu)" : "route MTU \(mtu), capped by the defaults")
        }
        return (defaults, "the defaults")
    }

    /// Why `address` must not be probed, or nil when it may: a probe goes only toward a tunnel client,
    /// never the host itself, special-use space, or (for a learn-address template with bounds) outside
    /// `learn_within`. A DF sweep is 59 echo requests: it must not be aimed anywhere a client names.
    static func probeRefusal(_ address: String, template: PeerTemplate, local: [IPPrefix]) -> String? {
        guard let target = try? IPPrefix(parsing: address) else { return "no address to probe" }
        if let reserved = target.reservedUse { return "\(address) is \(reserved)" }
        if local.contains(target) { return "\(address) is an address of this host" }
        let within = template.learning.within
        if template.source == .learnAddress, !within.isEmpty, !within.contains(where: { $0.covers(target) }) {
            return "\(address) is outside learn_within"
        }
        return nil
    }

    /// The address to probe: a host address among the peer's (IPv4 first), else the first address after
    /// the first prefix's network address.
    static func probeAddress(_ prefixes: [IPPrefix]) -> String {
        let hosts = prefixes.filter { $0.isHost }
        if let host = hosts.first(where: { !$0.isIPv6 }) ?? hosts.first { return host.address }
        return prefixes.first?.firstHost ?? ""
    }
}

extension String {
    /// Without leading and trailing spaces and newlines (a tool's one-line error).
    var trimmedLine: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
