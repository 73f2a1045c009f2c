import Foundation
import Logging
import MSSControl
import MSSPolicy
import MSSSystem
import MSSProbe
import MSSProcess
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Learned addresses kept across restarts: a JSON file written atomically, a corrupt one kept aside.
extension PeerSources {
    /// Writes the learned addresses (template -> common name -> prefixes) to `learnedPath`, atomically.
    func saveLearned() {
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
    func restoreLearned() {
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
}
