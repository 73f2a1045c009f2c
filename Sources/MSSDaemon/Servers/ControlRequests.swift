import MSSControl
import MSSPolicy

/// Answers the control socket's requests. Runs on the control server's handler threads, several at a
/// time: `stats` and `peer list` read published snapshots and never wait for a reload in progress.
struct ControlRequests: Sendable {
    let changes: PolicyChanges
    let statistics: @Sendable () -> Statistics
    /// With the kernel's counters (slower: it asks nft).
    let fullStatistics: @Sendable () -> Statistics
    let report: @Sendable (Statistics) -> String
    /// learn-address (nil: no templates can take it).
    var learn: (@Sendable (ControlRequest, ControlRole) -> ControlResponse)?

    /// Peers per `peer list` page when the client does not say.
    static let defaultPageSize = 1000
    static let maximumPageSize = 10_000

    func handle(_ request: ControlRequest, role: ControlRole = .root) -> ControlResponse {
        switch request.command {
        case .reload:
            return changes.reload(allowEmpty: request.allowEmpty ?? false)
        case .peerAdd:
            guard let fields = request.peer else { return ControlResponse(ok: false, error: "peer-add needs a peer") }
            return changes.addPeer(fields, replace: request.replace ?? false)
        case .peerRemove:
            guard let name = request.name else { return ControlResponse(ok: false, error: "peer-remove needs a name") }
            return changes.removePeer(name)
        case .peerSave:
            return changes.save()
        case .peerList:
            return peerList(offset: request.offset ?? 0, limit: request.limit ?? Self.defaultPageSize)
        case .batch:
            return changes.batch(request.requests ?? [])
        case .netScript:
            guard let script = changes.netScript() else { return ControlResponse(ok: false, error: "this daemon keeps no rules (started without --install-rules)") }
            return ControlResponse(ok: true, message: script)
        case .learn:
            guard let learn else { return ControlResponse(ok: false, error: "this daemon takes no learned addresses") }
            return learn(request, role)
        case .stats:
            let statistics = fullStatistics()
            var response = ControlResponse(ok: true, message: report(statistics))
            response.statistics = statistics
            response.policyVersion = changes.policy.store.currentVersion
            return response
        }
    }

    /// One page of the peers in force: a policy of 100,000 peers answers in pages, each far below any
    /// line limit, and the client asks until it has them all.
    private func peerList(offset: Int, limit: Int) -> ControlResponse {
        let snapshot = changes.policy.store.snapshot
        let counters = statistics().peers
        let start = min(max(0, offset), snapshot.definitions.count)
        let end = min(snapshot.definitions.count, start + min(max(1, limit), Self.maximumPageSize))
        var response = ControlResponse(ok: true)
        response.peers = snapshot.definitions[start..<end].map { definition in
            let origin: String
            switch definition.origin {
            case .file(let file, let line): origin = "\(file):\(line)"
            case .live: origin = "live"
            case .source(_, let detail): origin = detail
            }
            let ceilings = definition.ceiling.ceilings
            return PeerReport(
                name: definition.name, origin: origin, match: definition.match.map(\.description),
                inInterface: definition.inInterface, outInterface: definition.outInterface,
                fwmark: definition.fwmark?.description, mss4: ceilings.ipv4, mss6: ceilings.ipv6,
                ceiling: definition.ceiling.summary, counters: counters[definition.name] ?? PeerCounters())
        }
        response.defaults = snapshot.defaults
        response.policyVersion = snapshot.version
        response.total = snapshot.definitions.count
        return response
    }
}
