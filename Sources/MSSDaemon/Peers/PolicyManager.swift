import Foundation
import MSSPolicy
import MSSSystem
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
        /// Ceilings lowered per address after black holes were seen (BlackHoleWatch); applied on top of
        /// every peer list compiled (`PeerDefinition.applying`).
        var detected: [DetectedCeiling] = []
        var version: UInt64
        /// Who holds each name and prefix among the file's and the live peers: a `peer add` is checked
        /// against these in O(k), not by compiling the whole policy (`PeerIndex`).
        var index = PeerIndex()
    }

    public let store: PolicyStore
    /// The policy file, if the daemon was started with one.
    public let path: String?
    /// Command-line settings applied on top of every file read.
    public let overrides: PolicyOverrides
    private let state: Mutex<State>
    private let commits = GroupCommit<LiveChange, PolicySnapshot>()
    /// `State.configuration` as of the last publication, under a lock no compilation holds.
    private let published: Mutex<PolicyConfiguration>
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
        var initial = State(configuration: configuration, version: 1)
        initial.index = PeerIndex(file: configuration.peers, live: [])
        state = Mutex(initial)
        published = Mutex(configuration)
    }

    /// What a reload changed: the snapshot now in force and the configurations before and after.
    public struct Reloaded: Sendable {
        public var snapshot: PolicySnapshot
        public var previous: PolicyConfiguration
        public var current: PolicyConfiguration
    }

    /// The configuration in force, read without waiting for a change being compiled (a learn-address
    /// request reads the templates while a 10,000-peer policy compiles).
    public var configuration: PolicyConfiguration { published.withLock { $0 } }
    public var livePeers: [PeerDefinition] { state.withLock { $0.live } }
    public var sourcedPeers: [PeerDefinition] { state.withLock { $0.sourced } }

    /// Builds and publishes a snapshot from `configuration` + `live` + the sourced peers that still have
    /// their template and clash with nothing (the file and live peers win); nothing changes on error.
    @discardableResult
    private func publish(
        _ state: inout State, configuration: PolicyConfiguration, live: [PeerDefinition], sourced: [PeerDefinition]? = nil
    ) throws(PolicyError) -> PolicySnapshot {
        let kept = Self.admissible(sourced ?? state.sourced, configuration: configuration, live: live).kept
        let snapshot: PolicySnapshot
        if state.detected.isEmpty {
            snapshot = try PolicySnapshot(
                version: state.version + 1, configuration: configuration, livePeers: live + kept, interfaceIndex: interfaceIndex)
        } else {
            // The same peers in the same order, with each detected address split off its peer.
            var compiled = configuration
            compiled.peers = []
            snapshot = try PolicySnapshot(
                version: state.version + 1, configuration: compiled,
                livePeers: PeerDefinition.applying(state.detected, to: configuration.peers + live + kept),
                interfaceIndex: interfaceIndex)
        }
        state.version += 1
        state.configuration = configuration
        published.withLock { $0 = configuration }
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
            peer.detect = template.detect
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

    /// The detected ceilings in force.
    public var detected: [DetectedCeiling] { state.withLock { $0.detected } }

    /// Replaces the detected ceilings and publishes the result; nil when nothing changed or the policy
    /// could not be compiled with them (they are then not taken).
    public func replaceDetected(_ detected: [DetectedCeiling]) -> PolicySnapshot? {
        state.withLock { state in
            guard state.detected != detected else { return nil }
            let previous = state.detected
            state.detected = detected
            do {
                return try publish(&state, configuration: state.configuration, live: state.live)
            } catch {
                state.detected = previous
                return nil
            }
        }
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
            state.index = PeerIndex(file: configuration.peers, live: state.live)
            return Reloaded(snapshot: snapshot, previous: previous, current: configuration)
        }
    }

    /// Adds (or, with `replace`, replaces) a live peer.
    public func add(_ peer: PeerDefinition, replace: Bool) throws(PolicyError) -> PolicySnapshot {
        try commits.submit(.add(peer, replace: replace)) { apply($0) }
    }

    /// Removes a live peer. File peers are removed by editing the file and reloading.
    public func remove(name: String) throws(PolicyError) -> PolicySnapshot {
        try commits.submit(.remove(name)) { apply($0) }
    }

    /// Several live changes from one client (a `batch` request), applied in order and published
    /// together with whatever other clients sent meanwhile; one result each.
    func change(_ changes: [LiveChange]) -> [Result<PolicySnapshot, PolicyError>] {
        commits.submitAll(changes) { apply($0) }
    }

    /// Applies a batch of live changes in order (`GroupCommit`): each is checked against the index as
    /// if alone, and those that pass are published together in one snapshot, compiled once.
    /// - Returns: for each change, the snapshot that holds it, or why it was refused.
    private func apply(_ batch: [LiveChange]) -> [Result<PolicySnapshot, PolicyError>] {
        state.withLock { state in
            // Removed peers leave a hole until the end of the batch, so the index's slots stay true.
            var live: [PeerDefinition?] = state.live
            var index = state.index
            var removed = false
            var outcomes: [PolicyError?] = []
            for change in batch {
                do throws(PolicyError) {
                    switch change {
                    case .add(let peer, let replace):
                        try index.admit(peer, replace: replace, live: live)
                        if let slot = index.liveSlot(peer.name), let old = live[slot] {
                            index.forget(old)
                            live[slot] = peer
                            index.record(peer, slot: slot)
                        } else {
                            live.append(peer)
                            index.record(peer, slot: live.count - 1)
                        }
                    case .remove(let name):
                        guard let slot = index.liveSlot(name), let old = live[slot] else {
                            let message = index.isFilePeer(name)
                                ? "peer \"\(name)\" comes from \(state.configuration.file ?? "the file"); edit the file and reload (SIGHUP)"
                                : "no live peer named \"\(name)\""
                            throw PolicyError([PolicyDiagnostic(file: "peer remove", line: 0, key: "name", message: message)])
                        }
                        index.forget(old)
                        live[slot] = nil
                        removed = true
                    }
                    outcomes.append(nil)
                } catch {
                    outcomes.append(error)
                }
            }
            guard outcomes.contains(where: { $0 == nil }) else { return outcomes.map { .failure($0!) } }
            let compacted = live.compactMap { $0 }
            if removed { index.reindexLive(compacted) }
            do throws(PolicyError) {
                let snapshot = try publish(&state, configuration: state.configuration, live: compacted)
                state.index = index
                return outcomes.map { $0.map { .failure($0) } ?? .success(snapshot) }
            } catch {
                // The index let through what the whole policy refuses: the batch fails as one, and the
                // running policy stays.
                return batch.map { _ in .failure(error) }
            }
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
            state.index = PeerIndex(file: configuration.peers, live: [])
            return count
        }
    }

    /// Re-resolves interface names (tunnel interfaces come and go with new indexes); publishes a new
    /// snapshot only when an index changed. Returns it, or nil when nothing changed. Unless `waiting`,
    /// skipped (nil) while another change holds the policy, so the main loop never waits behind a large
    /// reload. The link-event thread waits, so no event is lost to a busy lock; so does a worker that met
    /// an index the policy missed (rare: just after an interface came back), since deciding its SYN on
    /// the stale policy is what it must avoid.
    public func refreshInterfaces(waiting: Bool = false) -> PolicySnapshot? {
        if waiting { return state.withLock { reresolve(&$0) } }
        return state.withLockIfAvailable { reresolve(&$0) } ?? nil
    }

    private func reresolve(_ state: inout State) -> PolicySnapshot? {
        let current = store.snapshot
        guard current.namesInterfaces else { return nil }
        let changed = current.interfaceIndexes.contains { name, index in (interfaceIndex(name) ?? 0) != index }
        guard changed else { return nil }
        return try? publish(&state, configuration: state.configuration, live: state.live)
    }
}
