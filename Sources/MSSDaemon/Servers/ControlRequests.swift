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
    /// learn-address: template, operation, address, common name, and whether root sent it (nil: no
    /// templates can take it).
    var learn: (@Sendable (_ template: String, _ operation: String, _ address: String, _ commonName: String?, _ trusted: Bool) -> ChangeResult)?

    /// Peers per `peer list` page when the client does not say.
    static let defaultPageSize = 1000
    static let maximumPageSize = 10_000

    func handle(_ request: ControlRequest, role: ControlRole = .root) -> ControlResponse {
        switch request.command {
        case .reload:
            return Self.response(changes.reload(allowEmpty: request.allowEmpty ?? false))
        case .peerAdd:
            guard let fields = request.peer else { return ControlResponse(ok: false, error: "peer-add needs a peer") }
            do {
                return Self.response(changes.addPeer(try fields.definition(), replace: request.replace ?? false))
            } catch {
                return ControlResponse(ok: false, error: error.description)
            }
        case .peerRemove:
            guard let name = request.name else { return ControlResponse(ok: false, error: "peer-remove needs a name") }
            return Self.response(changes.removePeer(name))
        case .peerSave:
            return Self.response(changes.save())
        case .peerList:
            return peerList(offset: request.offset ?? 0, limit: request.limit ?? Self.defaultPageSize)
        case .batch:
            return batch(request.requests ?? [])
        case .netScript:
            guard let script = changes.netScript() else { return ControlResponse(ok: false, error: "this daemon keeps no rules (started without --install-rules)") }
            return ControlResponse(ok: true, message: script)
        case .learn:
            guard let learn else { return ControlResponse(ok: false, error: "this daemon takes no learned addresses") }
            guard let template = request.template, let operation = request.operation, let address = request.address else {
                return ControlResponse(ok: false, error: "learn needs a template, an operation and an address")
            }
            guard ["add", "update", "delete"].contains(operation) else {
                return ControlResponse(ok: false, error: "learn-address operations are add, update and delete, got '\(operation)'")
            }
            return Self.response(learn(template, operation, address, request.commonName, role == .root))
        case .explain:
            guard let address = request.address else { return ControlResponse(ok: false, error: "explain needs an address") }
            return explain(address)
        case .stats:
            let statistics = fullStatistics()
            var response = ControlResponse(ok: true, message: report(statistics))
            response.statistics = statistics
            response.policyVersion = changes.policy.store.currentVersion
            return response
        }
    }

    /// The protocol's answer to a change: its message, or the reason it was refused.
    static func response(_ result: ChangeResult) -> ControlResponse {
        switch result {
        case .success(let message): ControlResponse(ok: true, message: message)
        case .failure(let refusal): ControlResponse(ok: false, error: refusal.reason)
        }
    }

    /// A `batch` request: its peer changes go to the policy together; one answer each, and one in all.
    private func batch(_ requests: [ControlRequest]) -> ControlResponse {
        var changes: [LiveChange] = []
        var slots: [Int] = []
        var responses = requests.map { _ in ControlResponse(ok: true) }
        for (position, request) in requests.enumerated() {
            switch (request.command, request.peer, request.name) {
            case (.peerAdd, .some(let fields), _):
                do {
                    changes.append(.add(try fields.definition(), replace: request.replace ?? false))
                    slots.append(position)
                } catch {
                    responses[position] = ControlResponse(ok: false, error: error.description)
                }
            case (.peerRemove, _, .some(let name)):
                changes.append(.remove(name))
                slots.append(position)
            default:
                responses[position] = ControlResponse(ok: false, error: "a batch holds peer-add (with a peer) and peer-remove (with a name) requests only")
            }
        }
        let (results, version) = self.changes.batch(changes)
        for (slot, result) in zip(slots, results) {
            if case .failure(let refusal) = result { responses[slot] = ControlResponse(ok: false, error: refusal.reason) }
        }
        let done = responses.filter(\.ok).count
        let message = "batch: \(done) of \(requests.count) change(s) applied" + (version.map { "; policy version \($0)" } ?? "")
        var response = ControlResponse(ok: done == requests.count, error: done == requests.count ? nil : "\(requests.count - done) change(s) refused", message: message)
        response.responses = responses
        response.policyVersion = version
        return response
    }

    /// One page of the peers in force: a policy of 100,000 peers answers in pages, each far below any
    /// line limit, and the client asks until it has them all.
    private func peerList(offset: Int, limit: Int) -> ControlResponse {
        let snapshot = changes.policy.store.snapshot
        let counters = statistics().peers
        let start = min(max(0, offset), snapshot.definitions.count)
        let end = min(snapshot.definitions.count, start + min(max(1, limit), Self.maximumPageSize))
        var response = ControlResponse(ok: true)
        response.peers = snapshot.definitions[start..<end].map { Self.report($0, counters: counters[$0.name]) }
        response.defaults = snapshot.defaults
        response.policyVersion = snapshot.version
        response.total = snapshot.definitions.count
        return response
    }

    /// A peer as `peer list` and `explain` show it.
    static func report(_ definition: PeerDefinition, counters: PeerCounters?) -> PeerReport {
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
            ceiling: definition.ceiling.summary, counters: counters ?? PeerCounters())
    }
}
