import Logging
import MSSControl
import MSSPolicy
import MSSQueue
import MSSSystem
import MSSWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One worker thread per queue: receive a batch, rewrite, send all verdicts in one `send`, publish
/// counters. No allocation and no lock per packet.
final class Worker: @unchecked Sendable {
    let socket: QueueSocket
    private let store: PolicyStore
    private let stop: Atomic<Bool>
    private let draining = Atomic(false)
    private let published = Mutex(PublishedCounters())
    /// The error that ended the worker, if any.
    let failure = Mutex<QueueError?>(nil)
    /// Monotonic milliseconds of the last turn of the receive loop: the watchdog pings systemd only
    /// while every worker's heartbeat is fresh.
    let heartbeat = Atomic<Int64>(0)
    /// Turns of the loop that came more than `stallThreshold` ms after the previous one (the process was
    /// stopped, starved or stuck), and their total length.
    let stalls = Atomic<UInt64>(0)
    let stallMilliseconds = Atomic<UInt64>(0)
    /// Packets verdicted after `beginDrain`.
    let drained = Atomic<UInt64>(0)
    /// Set when `run` returns.
    let finished = Atomic(false)
    /// A gap between two turns of the loop that counts as a stall: the receive timeout plus a second.
    let stallThreshold: Int64
    /// Room to rewrite a packet that cannot grow in place: the largest payload plus an MSS option.
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536 + 64, alignment: 16)

    /// Called once per batch with its size (the metrics histogram), never per packet.
    var batchObserver: (@Sendable (Int) -> Void)?
    /// Rate-limited audit log of clamps and insertions (nil: off).
    var audit: ClampAudit?
    /// Re-resolves the peers' interface names now (see `InterfaceWatch`); nil: the worker does not
    /// watch interface indexes.
    var refreshInterfaces: (@Sendable () -> Void)?

    init(socket: QueueSocket, store: PolicyStore) {
        self.socket = socket
        self.store = store
        stop = Atomic(false)
        stallThreshold = Int64(socket.configuration.receiveTimeoutMilliseconds) + 1000
        heartbeat.store(monotonicMilliseconds(), ordering: .relaxed)
    }

    deinit { scratch.deallocate() }

    /// What this worker counted, with its stalls and the packets it drained.
    var statistics: Statistics {
        var result = published.withLock { $0.statistics }
        result[.workerStalls] = stalls.load(ordering: .relaxed)
        result[.stallMilliseconds] = stallMilliseconds.load(ordering: .relaxed)
        result[.drained] = drained.load(ordering: .relaxed)
        return result
    }

    /// Ends the loop at its next turn, whatever is queued (used when the queue never went live).
    func requestStop() { stop.store(true, ordering: .relaxed) }

    /// Ends the loop once the queue is empty: call after `socket.bypass()`, so that nothing new arrives
    /// and every packet the kernel still holds gets its verdict before the socket closes.
    func beginDrain() { draining.store(true, ordering: .releasing) }

    /// The receive loop; returns when asked to stop (within the socket's receive timeout), when draining
    /// finds the queue empty, or on an error.
    func run() {
        defer { finished.store(true, ordering: .releasing) }
        // Local, not a stored property: no dynamic exclusivity checks on the packet path.
        var verdicts = VerdictBatch(queue: socket.queue)
        var policy = store.snapshot
        published.withLock { $0.rekey(names: policy.peerNames) }
        // Per-peer counts of the batch, and which peers the batch touched (at most one per packet).
        var peers = [PeerCounters](repeating: PeerCounters(), count: policy.peerNames.count + 1)
        var touched: [Int] = []
        touched.reserveCapacity(4096)
        var lastTurn = monotonicMilliseconds()
        var watch = InterfaceWatch()
        let refreshInterfaces = self.refreshInterfaces
        while !stop.load(ordering: .relaxed) {
            let received: Int
            do {
                received = try socket.receive()
            } catch {
                failure.withLock { $0 = error }
                return
            }
            let now = monotonicMilliseconds()
            if now - lastTurn > stallThreshold {
                stalls.add(1, ordering: .relaxed)
                stallMilliseconds.add(UInt64(now - lastTurn), ordering: .relaxed)
            }
            lastTurn = now
            heartbeat.store(now, ordering: .relaxed)
            let isDraining = draining.load(ordering: .acquiring)
            // Draining: a receive that timed out means the kernel holds nothing more for this queue.
            guard received > 0 else {
                if isDraining { return }
                continue
            }
            if store.currentVersion != policy.version {
                policy = store.snapshot
                published.withLock { $0.rekey(names: policy.peerNames) }
                peers = [PeerCounters](repeating: PeerCounters(), count: policy.peerNames.count + 1)
            }
            batchObserver?(received)
            var counters = LocalCounters()
            counters.counts[.batches] = 1
            counters.counts[.largestBatch] = UInt64(received)
            do throws(QueueError) {
                let messages = try socket.forEachPacket(received: received, verdicts: &verdicts) { packet, verdicts in
                    if policy.namesInterfaces, let refreshInterfaces,
                        watch.isStale(packet.inInterface, policy: policy) || watch.isStale(packet.outInterface, policy: policy)
                    {
                        // An interface came back under a new index: decide this packet with the names
                        // resolved anew. Mid-batch only when the peers are the same (their counters are
                        // kept by index); otherwise the next batch takes the new policy as usual.
                        refreshInterfaces()
                        let fresh = store.snapshot
                        if fresh.version != policy.version, fresh.peerNames == policy.peerNames { policy = fresh }
                    }
                    handle(
                        packet, policy: policy, verdicts: &verdicts, counters: &counters, peers: &peers,
                        touched: &touched)
                }
                counters.counts[.verdictErrors] &+= messages.errors
                counters.counts[.netlinkMalformed] &+= messages.malformed
                try socket.send(&verdicts)
            } catch {
                failure.withLock { $0 = error }
                return
            }
            if isDraining { drained.add(counters.counts[.packets], ordering: .relaxed) }
            published.withLock { state in
                state.totals.accumulate(counters)
                for index in touched where peers[index].seen > 0 {
                    state.peerTotals[index].add(peers[index])
                    peers[index] = PeerCounters()
                }
            }
            touched.removeAll(keepingCapacity: true)
        }
    }

    /// Rewrites one packet and appends its verdict.
    @inline(__always)
    private func handle(
        _ packet: QueuedPacket, policy: PolicySnapshot, verdicts: inout VerdictBatch,
        counters: inout LocalCounters, peers: inout [PeerCounters], touched: inout [Int]
    ) {
        counters.counts.increment(.packets)
        guard !packet.isTruncated, let base = packet.payload.baseAddress else {
            // Cut by the copy range: returning it would truncate the packet. Accept it as it is.
            counters.counts.increment(.truncated)
            verdicts.append(id: packet.id, verdict: .accept)
            return
        }
        if !packet.checksumReady { counters.counts.increment(.checksumNotReady) }
        // Where the slot continues after the payload, an inserted option grows the packet in place. A
        // packet without that room (a message followed by another in its datagram) is rewritten in the
        // worker's scratch buffer instead; the verdict copies the payload out either way.
        var buffer = UnsafeMutableRawBufferPointer(start: base, count: packet.capacity)
        if packet.capacity < packet.payload.count &+ TCPOptionKind.mssLength {
            scratch.copyMemory(from: UnsafeRawBufferPointer(packet.payload))
            buffer = scratch
        }
        var length = packet.payload.count
        let metadata = PacketMetadata(
            inInterface: packet.inInterface, outInterface: packet.outInterface, mark: packet.mark,
            checksumReady: packet.checksumReady)
        let (outcome, peer, tinyMSS) = ClampEngine.process(buffer, length: &length, metadata: metadata, policy: policy)
        counters.record(outcome, tinyMSS: tinyMSS)
        if let audit, outcome.modifiedPacket {
            audit.record(outcome, peer: peer >= 0 ? policy.peerNames[peer] : PolicySnapshot.defaultPeerName,
                         packet: UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
        }
        let kind = outcome.kind
        if kind != .notTCP && kind != .notSYN && kind != .fragment {
            let slot = peer + 1
            if peers[slot].seen == 0 && touched.count < touched.capacity { touched.append(slot) }
            peers[slot].record(kind, tinyMSS: tinyMSS)
        }
        if kind == .malformed && policy.dropMalformed {
            counters.counts.increment(.dropped)
            verdicts.append(id: packet.id, verdict: .drop)
        } else if outcome.modifiedPacket {
            verdicts.append(id: packet.id, verdict: .accept, payload: UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
        } else {
            verdicts.append(id: packet.id, verdict: .accept)
        }
    }
}
