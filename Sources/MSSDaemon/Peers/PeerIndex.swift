import MSSPolicy

/// A live peer change, as `PolicyManager` applies it.
enum LiveChange: Sendable {
    case add(PeerDefinition, replace: Bool)
    case remove(String)

    var isAdd: Bool { if case .add = self { true } else { false } }
}

/// Who holds each name and prefix among the file's and the live peers, so that a `peer add` is checked
/// in O(k) for its k prefixes instead of by compiling the whole policy. What it refuses is said with the
/// policy check's own words (`PolicyConfiguration.conflicts`).
struct PeerIndex {
    private var fileNames: [String: Int] = [:]
    private var liveNames: [String: Int] = [:]
    private var owners: [IPPrefix: String] = [:]
    private var file: [PeerDefinition] = []

    init() {}

    init(file: [PeerDefinition], live: [PeerDefinition]) {
        self.file = file
        for (slot, peer) in file.enumerated() {
            fileNames[peer.name] = slot
            for prefix in peer.match where owners[prefix] == nil { owners[prefix] = peer.name }
        }
        for (slot, peer) in live.enumerated() { record(peer, slot: slot) }
    }

    func liveSlot(_ name: String) -> Int? { liveNames[name] }

    func isFilePeer(_ name: String) -> Bool { fileNames[name] != nil }

    /// Throws what the policy check would say of `peer` joining the file's and the live peers.
    func admit(_ peer: PeerDefinition, replace: Bool, live: [PeerDefinition?]) throws(PolicyError) {
        if let slot = fileNames[peer.name] {
            throw PolicyError(PolicyConfiguration.conflicts(in: [file[slot], peer], file: "peer add"))
        }
        if liveNames[peer.name] != nil, !replace {
            throw PolicyError([PolicyDiagnostic(
                file: "peer add", line: 0, key: "name", message: "live peer \"\(peer.name)\" exists; remove it first or use --replace")])
        }
        for prefix in peer.match {
            guard let owner = owners[prefix], owner != peer.name else { continue }
            let holder = fileNames[owner].map { file[$0] } ?? liveNames[owner].flatMap { live[$0] }
            guard let holder else { continue }
            throw PolicyError(PolicyConfiguration.conflicts(in: [holder, peer], file: "peer add"))
        }
    }

    /// `peer` now holds `slot` of the live peers.
    mutating func record(_ peer: PeerDefinition, slot: Int) {
        liveNames[peer.name] = slot
        for prefix in peer.match where owners[prefix] == nil { owners[prefix] = peer.name }
    }

    /// `peer` (live) is gone.
    mutating func forget(_ peer: PeerDefinition) {
        liveNames[peer.name] = nil
        for prefix in peer.match where owners[prefix] == peer.name { owners[prefix] = nil }
    }

    /// The live peers' slots after removals closed the gaps.
    mutating func reindexLive(_ live: [PeerDefinition]) {
        liveNames.removeAll(keepingCapacity: true)
        for (slot, peer) in live.enumerated() { liveNames[peer.name] = slot }
    }
}
