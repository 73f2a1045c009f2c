// The peers of a policy as a set: what no single [[peer]] can show, names used twice and prefixes
// claimed by two peers. Checked for a file, and again for every live change.

extension PolicyConfiguration {
    /// Validates peers as a set: unique names and no prefix claimed by two peers.
    /// - Parameter file: the name for peers without a file line.
    public static func conflicts(in peers: [PeerDefinition], file: String) -> [PolicyDiagnostic] {
        var diagnostics: [PolicyDiagnostic] = []
        // Indexes, not copies: a policy of 100,000 peers is checked in a blink.
        var names: [String: Int] = [:]
        var owners: [IPPrefix: Int] = [:]
        names.reserveCapacity(peers.count)
        owners.reserveCapacity(peers.count * 2)
        func place(_ peer: PeerDefinition) -> (String, Int) {
            switch peer.origin {
            case .file(let name, let line): (name, line)
            case .live: (file, 0)
            case .source(let template, _): ("template \"\(template)\"", 0)
            }
        }
        for (index, peer) in peers.enumerated() {
            if let other = names[peer.name] {
                let (where_, line) = place(peer)
                let (otherFile, otherLine) = place(peers[other])
                diagnostics.append(
                    PolicyDiagnostic(
                        file: where_, line: line, key: "peer \"\(peer.name)\".name",
                        message: "peer name already used at \(otherFile):\(otherLine)"))
            } else {
                names[peer.name] = index
            }
            for prefix in peer.match {
                if let other = owners[prefix] {
                    guard peers[other].name != peer.name else { continue }
                    let (where_, line) = place(peer)
                    let owner = peers[other]
                    let (otherFile, otherLine) = place(owner)
                    diagnostics.append(
                        PolicyDiagnostic(
                            file: where_, line: line, key: "peer \"\(peer.name)\".match",
                            message: "prefix \(prefix) is already claimed by peer \"\(owner.name)\" "
                                + "(\(otherFile):\(otherLine), \(owner.ceiling.summary)); a prefix can "
                                + "belong to one peer only"))
                } else {
                    owners[prefix] = index
                }
            }
        }
        return diagnostics
    }
}
