import Foundation
import Logging
import MSSPolicy
import MSSProbe
import MSSProcess
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The learn-address source: a VPN hook's `add`/`update`/`delete` of a client address, within the
/// template's bounds.
extension PeerSources {
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
}
