import Logging
import MSSPolicy
import MSSQueue
import MSSWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The current policy, swapped atomically. Workers compare the version once per batch (one atomic
/// load) and take the lock only when it changed, so the packet path never waits for a writer.
public final class PolicyStore: Sendable {
    private let version: Atomic<UInt64>
    private let current: Mutex<PolicySnapshot>

    public init(_ initial: PolicySnapshot) {
        version = Atomic(initial.version)
        current = Mutex(initial)
    }

    @inline(__always) public var currentVersion: UInt64 { version.load(ordering: .acquiring) }

    public var snapshot: PolicySnapshot { current.withLock { $0 } }

    /// Publishes a new policy; workers pick it up for their next batch.
    public func replace(_ snapshot: PolicySnapshot) {
        current.withLock { $0 = snapshot }
        version.store(snapshot.version, ordering: .releasing)
    }
}

/// What a worker does with packets it cannot parse.
public enum MalformedAction: String, Sendable, Codable {
    /// Accept unmodified (the default: a clamp daemon must not become a firewall).
    case accept
    /// Drop them.
    case drop
}

/// What a worker publishes after every batch, under its own lock.
struct PublishedCounters {
    /// Running sums in the same fixed-size form the worker counts in: adding a batch is a few additions,
    /// and names are attached only when someone reads.
    var totals = LocalCounters()
    /// Per-peer totals of the current policy, indexed like `names` (index 0: no peer, the defaults).
    var peerTotals: [PeerCounters] = [PeerCounters()]
    var names: [String] = [PolicySnapshot.defaultPeerName]
    /// Totals of peers from earlier policy versions, by name.
    var retired: [String: PeerCounters] = [:]

    /// Starts counting against a new policy's peer list; what was counted so far stays, by name.
    mutating func rekey(names newNames: [String]) {
        for (index, counters) in peerTotals.enumerated() where counters.seen > 0 {
            retired[names[index], default: PeerCounters()].add(counters)
        }
        names = [PolicySnapshot.defaultPeerName] + newNames
        peerTotals = [PeerCounters](repeating: PeerCounters(), count: names.count)
    }

    var statistics: Statistics {
        var result = Statistics()
        result.add(totals)
        result.peers = retired
        for (index, counters) in peerTotals.enumerated() where counters.seen > 0 {
            result.peers[names[index], default: PeerCounters()].add(counters)
        }
        return result
    }
}

/// One worker thread per queue: receive a batch, rewrite, send all verdicts in one `send`, publish
/// counters. No allocation and no lock per packet.
final class Worker: @unchecked Sendable {
    let socket: QueueSocket
    private let store: PolicyStore
    private let stop: Atomic<Bool>
    private let malformedAction: MalformedAction
    private let published = Mutex(PublishedCounters())
    /// The error that ended the worker, if any.
    let failure = Mutex<QueueError?>(nil)

    /// Called once per batch with its size (the metrics histogram), never per packet.
    var batchObserver: (@Sendable (Int) -> Void)?
    /// Rate-limited audit log of clamps and insertions (nil: off).
    var audit: ClampAudit?

    init(socket: QueueSocket, store: PolicyStore, malformedAction: MalformedAction) {
        self.socket = socket
        self.store = store
        self.malformedAction = malformedAction
        stop = Atomic(false)
    }

    var statistics: Statistics { published.withLock { $0.statistics } }

    func requestStop() { stop.store(true, ordering: .relaxed) }

    /// The receive loop; returns when asked to stop (within the socket's receive timeout) or on an error.
    func run() {
        // Local, not a stored property: no dynamic exclusivity checks on the packet path.
        var verdicts = VerdictBatch(queue: socket.queue)
        var policy = store.snapshot
        published.withLock { $0.rekey(names: policy.peerNames) }
        // Per-peer counts of the batch, and which peers the batch touched (at most one per packet).
        var peers = [PeerCounters](repeating: PeerCounters(), count: policy.peerNames.count + 1)
        var touched: [Int] = []
        touched.reserveCapacity(4096)
        while !stop.load(ordering: .relaxed) {
            let received: Int
            do {
                received = try socket.receive()
            } catch {
                failure.withLock { $0 = error }
                return
            }
            guard received > 0 else { continue }
            if store.currentVersion != policy.version {
                policy = store.snapshot
                published.withLock { $0.rekey(names: policy.peerNames) }
                peers = [PeerCounters](repeating: PeerCounters(), count: policy.peerNames.count + 1)
            }
            batchObserver?(received)
            var counters = LocalCounters()
            counters.batches = 1
            counters.largestBatch = UInt64(received)
            do throws(QueueError) {
                for index in 0..<received {
                    let (datagram, slotEnd, _) = socket.datagram(index)
                    var sendError: QueueError?
                    QueueMessageParser.forEachMessage(in: datagram, slotEnd: slotEnd) { message in
                        switch message {
                        case .packet(let packet):
                            handle(
                                packet, policy: policy, verdicts: &verdicts, counters: &counters, peers: &peers,
                                touched: &touched)
                            if !verdicts.hasRoom(forPayload: 65_540) {
                                do throws(QueueError) { try socket.send(&verdicts) } catch { sendError = error }
                            }
                        case .error:
                            counters.verdictErrors &+= 1
                        case .malformed:
                            counters.netlinkMalformed &+= 1
                        case .other:
                            break
                        }
                    }
                    if let sendError { throw sendError }
                }
                try socket.send(&verdicts)
            } catch {
                failure.withLock { $0 = error }
                return
            }
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
        counters.packets &+= 1
        guard !packet.isTruncated, let base = packet.payload.baseAddress else {
            // Cut by the copy range: returning it would truncate the packet. Accept it as it is.
            counters.truncated &+= 1
            verdicts.append(id: packet.id, verdict: .accept)
            return
        }
        if !packet.checksumReady { counters.checksumNotReady &+= 1 }
        // The slot continues after the payload: an inserted option grows the packet in place.
        let buffer = UnsafeMutableRawBufferPointer(start: base, count: packet.capacity)
        var length = packet.payload.count
        let metadata = PacketMetadata(
            inInterface: packet.inInterface, outInterface: packet.outInterface, mark: packet.mark,
            checksumReady: packet.checksumReady)
        let (outcome, peer) = ClampEngine.process(buffer, length: &length, metadata: metadata, policy: policy)
        counters.record(outcome)
        if let audit, outcome.modifiedPacket {
            audit.record(outcome, peer: peer >= 0 ? policy.peerNames[peer] : PolicySnapshot.defaultPeerName,
                         packet: UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
        }
        let kind = outcome.kind
        if kind != .notTCP && kind != .notSYN && kind != .fragment {
            let slot = peer + 1
            if peers[slot].seen == 0 && touched.count < touched.capacity { touched.append(slot) }
            peers[slot].record(kind)
        }
        if outcome.modifiedPacket {
            verdicts.append(id: packet.id, verdict: .accept, payload: UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
        } else if kind == .malformed && malformedAction == .drop {
            counters.dropped &+= 1
            verdicts.append(id: packet.id, verdict: .drop)
        } else {
            verdicts.append(id: packet.id, verdict: .accept)
        }
    }
}

/// One log line per clamp or insertion (peer, addresses, old -> new MSS), at most `perSecond` lines a
/// second per worker; what is over the limit is counted and reported with the next line.
final class ClampAudit: @unchecked Sendable {
    private let logger: Logger
    private let perSecond: Int
    private var second: Int = 0
    private var used = 0
    private var suppressed = 0

    init(logger: Logger, perSecond: Int) {
        self.logger = logger
        self.perSecond = perSecond
    }

    func record(_ outcome: RewriteOutcome, peer: String, packet: UnsafeRawBufferPointer) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        if now.tv_sec != second {
            second = now.tv_sec
            used = 0
        }
        guard used < perSecond else {
            suppressed += 1
            return
        }
        used += 1
        guard packet.count >= 40 || (packet.count >= 20 && packet[0] >> 4 == 4) else { return }
        let source: String
        let destination: String
        if packet[0] >> 4 == 4 {
            source = IPv4Prefix.text(IPv4Prefix.load(from: packet, offset: 12))
            destination = IPv4Prefix.text(IPv4Prefix.load(from: packet, offset: 16))
        } else {
            source = IPv6Prefix.text(IPv6Prefix.load(from: packet, offset: 8))
            destination = IPv6Prefix.text(IPv6Prefix.load(from: packet, offset: 24))
        }
        let change: String
        switch outcome {
        case .clamped(let from, let to, _): change = "mss \(from) -> \(to)"
        case .inserted(let mss): change = "mss inserted \(mss)"
        default: change = "\(outcome.kind)"
        }
        let note = suppressed > 0 ? " (\(suppressed) more not logged)" : ""
        suppressed = 0
        logger.info("clamp peer=\(peer) \(source) -> \(destination) \(change)\(note)")
    }
}
