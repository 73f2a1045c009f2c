import Foundation
import Logging
import MSSControl
import MSSPolicy
import MSSSystem

/// Detected ceilings kept across restarts, as learned addresses are: a JSON file beside the control socket
/// (in the daemon's own 0700 directory), written atomically after every change, a corrupt one kept aside.
extension BlackHoleWatch {
    /// Writes the detected ceilings in force to `storePath`, atomically.
    func saveDetected() {
        guard let storePath else { return }
        let items = policy.detected.map {
            BlackHoleReport.Detected(
                address: $0.address.description, mss4: $0.ceilings.ipv4, mss6: $0.ceilings.ipv6, note: $0.note,
                expires: $0.expiresAt.timeIntervalSince1970)
        }
        do {
            try AtomicFile.write(Array(try JSONEncoder().encode(items)), to: storePath, mode: 0o600)
        } catch {
            logger.warning("cannot keep the detected ceilings in \(storePath): \(error)")
        }
    }

    /// Takes back the detected ceilings of an earlier run that have not expired. A file that cannot be
    /// read as such is moved aside (never overwritten by the next detection) and named in the log.
    func restoreDetected() {
        guard let storePath, let data = FileManager.default.contents(atPath: storePath) else { return }
        guard let items = try? JSONDecoder().decode([BlackHoleReport.Detected].self, from: data) else {
            let aside = AtomicFile.keepAside(storePath)
            logger.warning(
                "the detected-ceilings file \(storePath) is corrupt (\(data.count) bytes): \(aside.map { "kept aside as \($0)" } ?? "it could not be moved aside"); starting with none")
            return
        }
        let now = Date()
        let restored = items.compactMap { item -> DetectedCeiling? in
            let expires = Date(timeIntervalSince1970: item.expires)
            guard expires > now, let address = try? IPPrefix(parsing: item.address), address.isHost else { return nil }
            return DetectedCeiling(address: address, ceilings: Ceilings(ipv4: item.mss4, ipv6: item.mss6), note: item.note, expiresAt: expires)
        }
        guard !restored.isEmpty else { return }
        if let snapshot = policy.replaceDetected(restored) { changed(snapshot) }
        logger.info("\(restored.count) detected ceiling(s) taken back from \(storePath)")
    }
}
