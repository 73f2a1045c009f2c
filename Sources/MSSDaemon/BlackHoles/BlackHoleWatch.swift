import Foundation
import Logging
import MSSControl
import MSSPolicy
import MSSProbe
import MSSQueue
import MSSRules
import MSSSystem
import MSSWire
import Synchronization

/// Black holes found in live traffic (docs/design.md, "Black holes in live traffic"): the kernel samples
/// the large TCP segments the gateway sends (`SamplingRules`, an NFLOG group); a flow whose full-size
/// segment goes out again and again on a backed-off timer (`BlackHoleSignature`) points at its
/// destination. That address is then measured with a DF sweep through the tunnel (`AutoCeilings`): when
/// the largest packet that crosses is smaller than the segment that did not, the address gets its own
/// lower ceiling (`DetectedCeiling`), in the daemon and the safety net at once, for a day. When the sweep
/// says the segment fits, it was not the path's size (loss, a receiver gone) and nothing changes. An
/// address that answers no echo at all gets the ceiling every 1280-byte path carries.
final class BlackHoleWatch: @unchecked Sendable {
    /// What the watch has seen, for `stats`, `peer list` and the metrics.
    struct Counts: Sendable {
        var samples: UInt64 = 0
        /// Signatures seen, per peer name.
        var signatures: [String: UInt64] = [:]
        /// Lowered ceilings, per peer name.
        var lowered: [String: UInt64] = [:]
        /// Signatures a sweep showed were not the path's size.
        var dismissed: UInt64 = 0
    }

    private let socket: SampleSocket
    let policy: PolicyManager
    private let auto: AutoCeilings
    let logger: Logger
    private let table: String
    let changed: @Sendable (PolicySnapshot) -> Void
    /// Where the detected ceilings are kept across restarts (`DetectedStore`); nil: not kept.
    let storePath: String?
    private let stopping = Atomic(false)
    private var thread: NamedThread?
    private let counts = Mutex(Counts())
    /// Addresses being confirmed, and when each was last asked for (one sweep per address per minute).
    private let asked = Mutex<[String: Int64]>([:])
    /// What the kernel sampler is, for putting it back when someone removes it.
    private let script: String

    /// An address is confirmed at most once a minute, whatever its flows show.
    static let confirmGap: Int64 = 60_000
    /// The largest packet every path carries (IPv6's minimum link MTU): what an address that answers no
    /// echo gets.
    static let safeMTU = IPFamily.ipv6.guaranteedMTU

    /// - Parameters:
    ///   - socket: bound before the capabilities were dropped.
    ///   - table: the sampler's nft table; `group` its NFLOG group.
    init(
        socket: SampleSocket, table: String, policy: PolicyManager, auto: AutoCeilings, logger: Logger,
        storePath: String?, changed: @escaping @Sendable (PolicySnapshot) -> Void
    ) {
        self.storePath = storePath
        self.socket = socket
        self.table = table
        self.policy = policy
        self.auto = auto
        self.logger = logger
        self.changed = changed
        script = SamplingRules.script(table: table, group: socket.group, minimumPacket: BlackHoleSignature.minimumPacket)
    }

    /// For `stats` and the metrics.
    func report() -> BlackHoleReport {
        var report = BlackHoleReport(table: table, group: socket.group)
        let counts = counts.withLock { $0 }
        report.samples = counts.samples
        report.signatures = counts.signatures
        report.lowered = counts.lowered
        report.dismissed = counts.dismissed
        report.detected = policy.detected.map {
            BlackHoleReport.Detected(
                address: $0.address.address, mss4: $0.ceilings.ipv4, mss6: $0.ceilings.ipv6, note: $0.note,
                expires: $0.expiresAt.timeIntervalSince1970)
        }
        return report
    }

    /// Puts the sampler in the kernel (again); false with the reason logged when nft refuses it.
    ///
    /// Never by deleting the table first while the daemon may be queuing: unregistering a netfilter hook
    /// makes the kernel drop every packet waiting in any NFQUEUE of the namespace (`__nf_unregister_net_hook`
    /// calls `nf_queue_nf_hook_drop`), and a SYN lost there waits a second for its retransmission. A table
    /// left by an earlier run is flushed and filled again in one transaction; only one whose chains differ
    /// (another version's) is deleted and made anew.
    @discardableResult
    func installSampler() -> Bool {
        do {
            let refill = "table inet \(table) {}\nflush table inet \(table)\n" + script
            var result = try ToolRunner.run(["nft", "-f", "-"], input: refill)
            if result.status != 0 {
                _ = try? ToolRunner.run(["nft", "-f", "-"], input: SamplingRules.deleteScript(table: table))
                result = try ToolRunner.run(["nft", "-f", "-"], input: script)
            }
            guard result.status == 0 else {
                logger.error("black-hole sampler not installed (table inet \(table)): \(result.error)")
                return false
            }
            return true
        } catch {
            logger.error("black-hole sampler not installed: \(error.message)")
            return false
        }
    }

    /// Empties the sampler: its rules go, its chains (hooks) stay, so nothing is sampled and nothing queued
    /// is dropped (see `installSampler`). `mssclamp rules remove` deletes the table.
    func emptySampler() {
        SamplingRules.empty(table: table)
    }

    func start() {
        restoreDetected()
        guard installSampler() else { return }
        logger.info("black-hole watch on: large TCP segments sampled by table inet \(table) into NFLOG group \(socket.group)")
        thread = NamedThread(name: "mssclamp-holes") { [self] in run() }
    }

    /// Stops reading; the daemon then empties the sampler (`emptySampler`).
    func stop() {
        stopping.store(true, ordering: .relaxed)
        thread?.join()
        thread = nil
    }

    private func run() {
        var signature = BlackHoleSignature()
        var lastCheck = monotonicMilliseconds()
        while !stopping.load(ordering: .relaxed) {
            var found: [BlackHoleSignature.Evidence] = []
            var samples: UInt64 = 0
            do {
                try socket.receive { bytes in
                    samples += 1
                    guard let segment = SegmentSummary(bytes) else { return }
                    if let evidence = signature.observe(segment, at: monotonicMilliseconds()) { found.append(evidence) }
                }
            } catch {
                logger.error("black-hole watch stopped: \(error)")
                return
            }
            if samples > 0 { counts.withLock { $0.samples += samples } }
            for evidence in found { confirm(evidence) }
            let now = monotonicMilliseconds()
            if now - lastCheck >= 5000 {
                lastCheck = now
                expire()
            }
        }
    }

    /// The sampler's table is still there, else it goes back (someone flushed the ruleset). Called by
    /// the `RuleWatcher`'s thread after an nf_tables notification, or every ten seconds: no `nft list`
    /// runs while nothing changes.
    func keepSampler() {
        guard !stopping.load(ordering: .relaxed) else { return }
        guard let result = try? ToolRunner.run(["nft", "list", "table", "inet", table], timeout: 5), result.status != 0 else { return }
        if installSampler() { logger.warning("black-hole sampler restored (table inet \(table) was removed from outside)") }
    }

    /// Drops the detected ceilings whose day is over.
    private func expire() {
        let now = Date()
        let current = policy.detected
        let kept = current.filter { $0.expiresAt > now }
        guard kept.count != current.count else { return }
        for gone in current where gone.expiresAt <= now {
            logger.info("detected ceiling of \(gone.address.address) expired: back to its peer's")
        }
        if let snapshot = policy.replaceDetected(kept) { changed(snapshot) }
        saveDetected()
    }

    private func confirm(_ evidence: BlackHoleSignature.Evidence) {
        let text = evidence.destination
        guard let address = try? IPPrefix(parsing: text), address.isHost else { return }
        let definitions = policy.store.snapshot.definitions
        guard let peer = definitions.holder(of: address).map({ definitions[$0.index] }) else {
            logger.info("black-hole signature toward \(text), which no peer holds: left alone (\(evidence))")
            return
        }
        counts.withLock { $0.signatures[peer.name, default: 0] += 1 }
        guard peer.detect else {
            logger.info("black-hole signature toward peer \"\(peer.name)\" (detect = false: left alone): \(evidence)")
            return
        }
        let now = monotonicMilliseconds()
        let fresh = asked.withLock { asked -> Bool in
            if let last = asked[text], now - last < Self.confirmGap { return false }
            asked = asked.filter { now - $0.value < Self.confirmGap }
            asked[text] = now
            return true
        }
        guard fresh else { return }
        logger.info("black-hole signature toward peer \"\(peer.name)\": \(evidence); measuring \(text)")
        let started = auto.measureOnce(text) { [self] result in
            settle(evidence, address: address, peer: peer, result: result)
        }
        if !started {
            settle(evidence, address: address, peer: peer, result: nil)
        }
    }

    /// Acts on a sweep's result (nil: nothing could measure).
    private func settle(_ evidence: BlackHoleSignature.Evidence, address: IPPrefix, peer: PeerDefinition, result: SweepResult?) {
        let mtu: Int
        let how: String
        if let measured = result?.pathMTU {
            guard measured < evidence.packetLength else {
                counts.withLock { $0.dismissed += 1 }
                logger.info(
                    "no black hole toward \(address.address): its path carries \(measured) bytes, the \(evidence.packetLength)-byte segment fits (loss or a receiver gone); nothing changed")
                return
            }
            mtu = measured
            how = "DF sweep: path MTU \(measured) (\(result?.probes ?? 0) probes)"
        } else {
            mtu = Self.safeMTU
            how = result == nil ? "not measured (no ICMP socket): \(mtu) bytes assumed" : "no echo answer: \(mtu) bytes assumed"
        }
        let ceilings = Ceilings(linkMTU: mtu)
        let current = peer.ceiling.ceilings.ceiling(for: evidence.family)
        if let current, current <= ceilings.ceiling(for: evidence.family)! {
            logger.info("black hole toward \(address.address) (\(how)): peer \"\(peer.name)\" already gives mss \(current); nothing changed")
            return
        }
        let at = Date()
        let expires = at.addingTimeInterval(DetectedCeiling.lifetime)
        let note = "\(UTCTimestamp.text(at)): \(evidence); \(how); expires \(UTCTimestamp.text(expires))"
        var detected = policy.detected.filter { $0.address != address }
        detected.append(DetectedCeiling(address: address, ceilings: ceilings, note: note, expiresAt: expires))
        guard let snapshot = policy.replaceDetected(detected) else {
            logger.error("black hole toward \(address.address): the policy would not compile with its ceiling; nothing changed")
            return
        }
        counts.withLock { $0.lowered[peer.name, default: 0] += 1 }
        saveDetected()
        logger.warning(
            "black hole toward \(address.address) (peer \"\(peer.name)\"): \(evidence); \(how); new connections get mss \(ceilings) until \(UTCTimestamp.text(expires))")
        changed(snapshot)
    }
}
