import Foundation
import MSSPolicy
import Synchronization

/// Owns the running policy: the file's peers, the live peers added through the control socket, and the
/// version counter. Every change builds a complete new snapshot first and publishes it only if it is
/// valid, so a bad file or a conflicting `peer add` leaves the running policy as it was.
///
/// Live peers are kept apart from the file: a reload replaces the file's peers and keeps the live ones;
/// `peer save` appends the live peers to the file (which then owns them). See docs/policy.md.
public final class PolicyManager: Sendable {
    private struct State {
        var configuration: PolicyConfiguration
        var live: [PeerDefinition] = []
        /// Peers made by templates (WireGuard peers, learned addresses); kept across reloads while their
        /// template exists, never saved to the file.
        var sourced: [PeerDefinition] = []
        var version: UInt64
    }

    public let store: PolicyStore
    /// The policy file, if the daemon was started with one.
    public let path: String?
    /// Command-line settings applied on top of every file read.
    public let overrides: PolicyOverrides
    private let state: Mutex<State>
    private let interfaceIndex: @Sendable (String) -> UInt32?

    public init(
        configuration: PolicyConfiguration, path: String?, overrides: PolicyOverrides = PolicyOverrides(),
        interfaceIndex: @escaping @Sendable (String) -> UInt32? = PolicySnapshot.systemInterfaceIndex
    ) throws(PolicyError) {
        self.path = path
        self.overrides = overrides
        self.interfaceIndex = interfaceIndex
        let configuration = overrides.applied(to: configuration)
        let snapshot = try PolicySnapshot(version: 1, configuration: configuration, interfaceIndex: interfaceIndex)
        store = PolicyStore(snapshot)
        state = Mutex(State(configuration: configuration, version: 1))
    }

    /// What a reload changed: the snapshot now in force and the configurations before and after.
    public struct Reloaded: Sendable {
        public var snapshot: PolicySnapshot
        public var previous: PolicyConfiguration
        public var current: PolicyConfiguration
    }

    public var configuration: PolicyConfiguration { state.withLock { $0.configuration } }
    public var livePeers: [PeerDefinition] { state.withLock { $0.live } }
    public var sourcedPeers: [PeerDefinition] { state.withLock { $0.sourced } }

    /// Builds and publishes a snapshot from `configuration` + `live` + the sourced peers that still have
    /// their template and clash with nothing (the file and live peers win); nothing changes on error.
    @discardableResult
    private func publish(
        _ state: inout State, configuration: PolicyConfiguration, live: [PeerDefinition], sourced: [PeerDefinition]? = nil
    ) throws(PolicyError) -> PolicySnapshot {
        let kept = Self.admissible(sourced ?? state.sourced, configuration: configuration, live: live).kept
        let snapshot = try PolicySnapshot(
            version: state.version + 1, configuration: configuration, livePeers: live + kept, interfaceIndex: interfaceIndex)
        state.version += 1
        state.configuration = configuration
        state.live = live
        state.sourced = kept
        store.replace(snapshot)
        return snapshot
    }

    /// The sourced peers that can join: their template exists (with its ceiling if given), their name is
    /// free, and none of their prefixes is claimed by a file or live peer or an earlier sourced peer.
    static func admissible(_ sourced: [PeerDefinition], configuration: PolicyConfiguration, live: [PeerDefinition])
        -> (kept: [PeerDefinition], refused: [(name: String, reason: String)])
    {
        guard !sourced.isEmpty else { return ([], []) }
        var templates: [String: PeerTemplate] = [:]
        for template in configuration.templates { templates[template.name] = template }
        var names = Set(configuration.peers.map(\.name)).union(live.map(\.name)).union(templates.keys)
        var claimed: [IPPrefix: String] = [:]
        for peer in configuration.peers + live { for prefix in peer.match { claimed[prefix] = peer.name } }
        var kept: [PeerDefinition] = []
        var refused: [(String, String)] = []
        for var peer in sourced {
            guard case .source(let templateName, _) = peer.origin, let template = templates[templateName] else {
                continue  // its template is gone: so is the peer
            }
            if case .given(let ceiling) = template.ceiling { peer.ceiling = ceiling }
            guard !names.contains(peer.name) else {
                refused.append((peer.name, "the name is taken"))
                continue
            }
            if let prefix = peer.match.first(where: { claimed[$0] != nil }) {
                refused.append((peer.name, "\(prefix) is already claimed by peer \"\(claimed[prefix]!)\""))
                continue
            }
            names.insert(peer.name)
            for prefix in peer.match { claimed[prefix] = peer.name }
            kept.append(peer)
        }
        return (kept, refused)
    }

    /// Replaces the peers `template` made with `peers` (all of them: what the source reports now).
    /// - Returns: the snapshot published (nil when nothing changed) and the peers refused, with why.
    public func replaceSourced(template: String, with peers: [PeerDefinition])
        -> (snapshot: PolicySnapshot?, refused: [(name: String, reason: String)])
    {
        state.withLock { state in
            let others = state.sourced.filter {
                if case .source(let name, _) = $0.origin { name != template } else { true }
            }
            let candidate = others + peers
            let (kept, refused) = Self.admissible(candidate, configuration: state.configuration, live: state.live)
            let current = state.sourced.filter { if case .source(let name, _) = $0.origin { name == template } else { false } }
            let next = kept.filter { if case .source(let name, _) = $0.origin { name == template } else { false } }
            guard current != next else { return (nil, refused.filter { r in peers.contains { $0.name == r.name } }) }
            let snapshot = try? publish(&state, configuration: state.configuration, live: state.live, sourced: kept)
            return (snapshot, refused.filter { r in peers.contains { $0.name == r.name } })
        }
    }

    /// Rereads the policy file. On any error the running policy stays and the error is returned.
    /// - Parameter allowEmpty: accept a file that would take away every peer, or one with nothing in it.
    ///   Without it such a file (a truncated write by configuration management, say) is refused: an
    ///   operator who means it says so (`mssclamp reload --allow-empty`).
    public func reload(allowEmpty: Bool = false) throws(PolicyError) -> Reloaded {
        guard let path else {
            throw PolicyError([PolicyDiagnostic(file: "(none)", line: 0, key: "", message: "no policy file to reload (started without --config)")])
        }
        // A file being rewritten in place is read once it has stopped changing (`SettledFile`): a SIGHUP
        // in the middle of a slow rewrite reads the whole new file, not the first part of it.
        let settled = try SettledFile.read(path) { (path) throws(PolicyError) in try PolicyConfiguration.load(path: path) }
        let configuration = overrides.applied(to: settled.value)
        // Compiled outside the lock: a large file takes a moment, and peer changes need not wait for it.
        let previous = state.withLock { $0.configuration }
        if !allowEmpty {
            if configuration.isEmptyDocument && !previous.isEmptyDocument {
                throw PolicyError([PolicyDiagnostic(
                    file: path, line: 0, key: "",
                    message: "the file is empty: refused, since a truncated file would reset every setting to its default; if that is meant, run `mssclamp reload --allow-empty`")])
            }
            if configuration.peers.isEmpty && !previous.peers.isEmpty {
                throw PolicyError([PolicyDiagnostic(
                    file: path, line: 0, key: "",
                    message: "the file has no peers, the running policy has \(previous.peers.count): refused, since an empty or truncated file would drop every peer; if that is meant, run `mssclamp reload --allow-empty`")])
            }
        }
        return try state.withLock { (state) throws(PolicyError) -> Reloaded in
            let previous = state.configuration
            let snapshot = try publish(&state, configuration: configuration, live: state.live)
            return Reloaded(snapshot: snapshot, previous: previous, current: configuration)
        }
    }

    /// Adds (or, with `replace`, replaces) a live peer.
    public func add(_ peer: PeerDefinition, replace: Bool) throws(PolicyError) -> PolicySnapshot {
        try state.withLock { (state) throws(PolicyError) -> PolicySnapshot in
            var live = state.live
            if let existing = live.firstIndex(where: { $0.name == peer.name }) {
                guard replace else {
                    throw PolicyError([PolicyDiagnostic(file: "peer add", line: 0, key: "name", message: "live peer \"\(peer.name)\" exists; remove it first or use --replace")])
                }
                live[existing] = peer
            } else {
                live.append(peer)
            }
            return try publish(&state, configuration: state.configuration, live: live)
        }
    }

    /// Removes a live peer. File peers are removed by editing the file and reloading.
    public func remove(name: String) throws(PolicyError) -> PolicySnapshot {
        try state.withLock { (state) throws(PolicyError) -> PolicySnapshot in
            guard let index = state.live.firstIndex(where: { $0.name == name }) else {
                let inFile = state.configuration.peers.contains { $0.name == name }
                let message = inFile ? "peer \"\(name)\" comes from \(state.configuration.file ?? "the file"); edit the file and reload (SIGHUP)" : "no live peer named \"\(name)\""
                throw PolicyError([PolicyDiagnostic(file: "peer remove", line: 0, key: "name", message: message)])
            }
            var live = state.live
            live.remove(at: index)
            return try publish(&state, configuration: state.configuration, live: live)
        }
    }

    /// Appends the live peers to the policy file (atomically, `AtomicFile`), after
    /// checking that the result parses; they become file peers.
    /// - Returns: how many peers were written.
    public func save() throws(PolicyError) -> Int {
        guard let path else {
            throw PolicyError([PolicyDiagnostic(file: "peer save", line: 0, key: "", message: "the daemon runs without --config: there is no file to save to")])
        }
        return try state.withLock { (state) throws(PolicyError) -> Int in
            guard !state.live.isEmpty else { return 0 }
            let original: String
            do { original = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw PolicyError([PolicyDiagnostic(file: path, line: 0, key: "", message: "cannot read: \(error.localizedDescription)")])
            }
            var text = original
            if !text.hasSuffix("\n") && !text.isEmpty { text += "\n" }
            text += "\n# added with `mssclamp peer add`, saved with `mssclamp peer save`\n"
            text += state.live.map(\.tomlText).joined(separator: "\n")
            let configuration = overrides.applied(to: try PolicyConfiguration.parse(text, file: path))
            // The file's own mode is kept; the temporary is never a name someone could have planted.
            var info = stat()
            let mode = stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0o644
            do {
                try AtomicFile.write(Array(text.utf8), to: path, mode: mode)
            } catch {
                throw PolicyError([PolicyDiagnostic(file: path, line: 0, key: "", message: "cannot write: \(error)")])
            }
            let count = state.live.count
            _ = try publish(&state, configuration: configuration, live: [])
            return count
        }
    }

    /// Re-resolves interface names (tunnel interfaces come and go with new indexes); publishes a new
    /// snapshot only when an index changed. Returns it, or nil when nothing changed. Skipped (nil) while
    /// another change holds the policy, so the main loop never waits behind a large reload.
    public func refreshInterfaces() -> PolicySnapshot? {
        state.withLockIfAvailable { state -> PolicySnapshot? in
            let current = store.snapshot
            let names = Set(current.definitions.flatMap { [$0.inInterface, $0.outInterface].compactMap { $0 } })
            guard !names.isEmpty else { return nil }
            let changed = current.peers.enumerated().contains { index, peer in
                let definition = current.definitions[index]
                let inNow = definition.inInterface.map { interfaceIndex($0) ?? 0 }
                let outNow = definition.outInterface.map { interfaceIndex($0) ?? 0 }
                return inNow != peer.inInterface || outNow != peer.outInterface
            }
            guard changed else { return nil }
            return try? publish(&state, configuration: state.configuration, live: state.live)
        } ?? nil
    }
}
