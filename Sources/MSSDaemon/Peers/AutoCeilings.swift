import Foundation
import Logging
import MSSControl
import MSSPolicy
import MSSProbe
import MSSSystem
import MSSWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The ceilings of `mss = "auto"` peers: each one's path is measured by an echo sweep through the tunnel
/// (EchoSweep), again every ten minutes, when the peer roams, and when a router reports "too big" for a
/// datagram to its endpoint; a peer that does not answer gets the fallback and is tried again after 5,
/// 10, 20, 40 and then every 60 seconds. A WireGuard peer is measured once it has an endpoint (its first
/// handshake): before that nothing can reach it.
///
/// Until its first measurement a peer gets the provisional ceiling, the smaller of 1240/1220 (what a
/// 1280-byte path carries, the one MTU every IPv6 path guarantees) and its fallback: a connection opened
/// in that second works on any path, at worst with smaller segments (docs/integrations.md).
final class AutoCeilings: @unchecked Sendable {
    /// A peer to measure.
    struct Target: Sendable, Hashable {
        var peer: String
        var template: String
        /// The address probed (inside the tunnel).
        var address: String
        /// The peer's outer endpoint (WireGuard), when known: a change means a roam.
        var endpoint: String?
        var fallback: Ceilings
        var fallbackSource: String
        /// A WireGuard peer: unreachable until its first handshake gives it an endpoint.
        var needsEndpoint = false
        /// Why the address must not be probed (`PeerSources.probeRefusal`): the peer keeps its fallback.
        var unmeasurable: String?

        var reachable: Bool { !needsEndpoint || endpoint != nil }
    }

    enum State: Sendable, Hashable {
        case measuring
        case measured(pathMTU: Int, at: Date, probes: Int)
        case fallback(reason: String, at: Date)
        case unavailable(String)
    }

    struct Entry: Sendable {
        var target: Target
        var state: State
        var ceilings: Ceilings
        var due: Int64
        /// Sweeps in a row that got no answer.
        var failures = 0
    }

    static let provisional = Ceilings(linkMTU: IPFamily.ipv6.guaranteedMTU)
    static let interval: Int64 = 600_000
    static let retry: Int64 = 60_000

    /// 5, 10, 20, 40, then 60 seconds after the 1st, 2nd... sweep in a row without an answer.
    static func retryDelay(failures: Int) -> Int64 { min(retry, 5000 << Int64(min(max(failures - 1, 0), 4))) }

    private let sockets: EchoSockets?
    private let unavailable: String?
    private let entries = Mutex<[String: Entry]>([:])
    private let logger: Logger
    private let stopping = Atomic(false)
    private var thread: NamedThread?
    /// Called (on the measuring thread) when a template's peers got new ceilings.
    var onChange: @Sendable (_ template: String) -> Void = { _ in }

    /// - Parameters:
    ///   - sockets: opened before the capabilities were dropped; nil when they could not be.
    ///   - unavailable: why there are none (every auto peer then gets its fallback).
    init(sockets: EchoSockets?, unavailable: String?, logger: Logger) {
        self.sockets = sockets
        self.unavailable = unavailable
        self.logger = logger
    }

    /// Starts or updates the measurement of `target`; returns the ceilings it has now and their note.
    func track(_ target: Target) -> (ceilings: Ceilings, note: String) {
        entries.withLock { entries in
            let now = monotonicMilliseconds()
            if let refusal = target.unmeasurable {
                let entry = Entry(target: target, state: .unavailable("not probed: \(refusal)"), ceilings: target.fallback, due: .max)
                entries[target.peer] = entry
                return (entry.ceilings, Self.note(entry))
            }
            if var entry = entries[target.peer] {
                let moved = entry.target.address != target.address || entry.target.endpoint != target.endpoint
                let fallbackChanged = entry.target.fallback != target.fallback
                entry.target = target
                if moved, target.reachable, sockets != nil, entry.state != .measuring || entry.due == .max {
                    entry.due = now  // a roam or a first handshake: measure now, keep the last value meanwhile
                }
                if fallbackChanged, case .fallback = entry.state { entry.ceilings = target.fallback }
                entries[target.peer] = entry
                return (entry.ceilings, Self.note(entry))
            }
            let entry: Entry
            if let unavailable {
                entry = Entry(target: target, state: .unavailable(unavailable), ceilings: target.fallback, due: .max)
            } else {
                entry = Entry(
                    target: target, state: .measuring, ceilings: target.fallback.lowered(by: Self.provisional),
                    due: target.reachable ? now : .max)
            }
            entries[target.peer] = entry
            return (entry.ceilings, Self.note(entry))
        }
    }

    /// Forgets the peers of `template` that are not in `keep`.
    func retain(_ keep: Set<String>, template: String) {
        entries.withLock { entries in
            for (name, entry) in entries where entry.target.template == template && !keep.contains(name) {
                entries[name] = nil
            }
        }
    }

    func reports() -> [AutoCeilingReport] {
        entries.withLock { entries in
            entries.values.sorted { $0.target.peer < $1.target.peer }.map { entry in
                var report = AutoCeilingReport(
                    peer: entry.target.peer, template: entry.target.template, address: entry.target.address,
                    state: "", mss4: entry.ceilings.ipv4, mss6: entry.ceilings.ipv6)
                switch entry.state {
                case .measuring: report.state = "measuring"
                case .measured(let mtu, let at, _):
                    report.state = "measured"
                    report.pathMTU = mtu
                    report.at = at.timeIntervalSince1970
                case .fallback(_, let at):
                    report.state = "fallback"
                    report.at = at.timeIntervalSince1970
                case .unavailable: report.state = "fallback"
                }
                return report
            }
        }
    }

    func start() {
        guard let sockets else { return }
        thread = NamedThread(name: "mssclamp-probe") { [self] in run(sockets) }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        thread?.join()
        thread = nil
    }

    /// The shortest time between two sweeps toward one address.
    static let minimumGap: Int64 = 10_000
    /// When each address was last swept (the measuring thread's alone).
    private var lastSweep: [String: Int64] = [:]

    /// Sweeps asked for once, by address, with what to call with the result (the black-hole watch's
    /// confirmations): run before the peers' own, within the same one-sweep-per-address bound.
    private let requests = Mutex<[(address: String, done: @Sendable (SweepResult) -> Void)]>([])

    /// Measures `address` once and calls `done` on the measuring thread; false when nothing can measure
    /// (no ICMP sockets). A request for an address already waiting is merged into it.
    func measureOnce(_ address: String, done: @escaping @Sendable (SweepResult) -> Void) -> Bool {
        guard sockets != nil else { return false }
        requests.withLock { requests in
            guard requests.count < 256 else { return }
            requests.append((address, done))
        }
        return true
    }

    /// The first request whose address may be swept now (`minimumGap`), taken off the list.
    private func nextRequest(now: Int64) -> (address: String, done: @Sendable (SweepResult) -> Void)? {
        requests.withLock { requests in
            guard let index = requests.firstIndex(where: { request in
                lastSweep[request.address].map { now - $0 >= Self.minimumGap } ?? true
            }) else { return nil }
            return requests.remove(at: index)
        }
    }

    private func sweep(_ address: String, sockets: EchoSockets, identifier: UInt16, now: Int64) -> (SweepResult, [ICMPNotice]) {
        if lastSweep.count > 4096 { lastSweep = lastSweep.filter { now - $0.value < Self.minimumGap } }
        lastSweep[address] = now
        var sweep = EchoSweep(sockets: sockets, identifier: identifier)
        let ipv6 = address.contains(":")
        let result = sweep.run(
            target: address, minimum: (ipv6 ? IPFamily.ipv6 : .ipv4).guaranteedMTU,
            maximum: ValueRange.linkMTU.upperBound)
        return (result, sweep.notices)
    }

    private func run(_ sockets: EchoSockets) {
        var identifier = UInt16(truncatingIfNeeded: getpid() &* 31)
        while !stopping.load(ordering: .relaxed) {
            let now = monotonicMilliseconds()
            if let request = nextRequest(now: now) {
                identifier &+= 7
                let (result, notices) = sweep(request.address, sockets: sockets, identifier: identifier, now: now)
                request.done(result)
                handle(notices)
                continue
            }
            let due = entries.withLock { entries in
                entries.values.filter { $0.due <= now }.min { $0.due < $1.due }?.target
            }
            // One sweep per address per `minimumGap`, whatever asks for it (a roam, "too big", a client
            // learned again and again): the probes are never a flood toward anyone.
            if let target = due, let last = lastSweep[target.address], now - last < Self.minimumGap {
                entries.withLock { entries in
                    if entries[target.peer]?.target == target { entries[target.peer]?.due = last + Self.minimumGap }
                }
                continue
            }
            guard let target = due else {
                // Nothing due: listen for "too big" reports about the peers' endpoints for a moment.
                var pollers = [sockets.ipv4, sockets.ipv6].filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                if poll(&pollers, nfds_t(pollers.count), 250) > 0 { handle(EchoSweep.notices(sockets)) }
                continue
            }
            identifier &+= 7
            let (result, notices) = sweep(target.address, sockets: sockets, identifier: identifier, now: now)
            finish(target, result)
            handle(notices)
        }
    }

    private func finish(_ target: Target, _ result: SweepResult) {
        let changed = entries.withLock { entries -> Bool in
            guard var entry = entries[target.peer], entry.target == target else { return false }
            let before = (entry.ceilings, entry.state)
            let now = monotonicMilliseconds()
            if let mtu = result.pathMTU {
                // The largest inner packet that crossed.
                entry.ceilings = Ceilings(linkMTU: mtu)
                entry.state = .measured(pathMTU: mtu, at: Date(), probes: result.probes)
                entry.due = now + Self.interval
                entry.failures = 0
            } else {
                entry.ceilings = target.fallback
                entry.state = .fallback(reason: "no echo reply from \(target.address) (\(result.probes) probes)", at: Date())
                entry.failures += 1
                entry.due = now + Self.retryDelay(failures: entry.failures)
            }
            entries[target.peer] = entry
            let note = Self.note(entry)
            if before.0 != entry.ceilings || !Self.sameKind(before.1, entry.state) {
                logger.info("auto ceiling of peer \"\(target.peer)\": mss \(entry.ceilings) (\(note))")
                return true
            }
            return false
        }
        if changed { onChange(target.template) }
    }

    /// A router said a datagram to one of the endpoints was too big (the path shrank): measure the peers
    /// behind it again now.
    private func handle(_ notices: [ICMPNotice]) {
        guard !notices.isEmpty else { return }
        let now = monotonicMilliseconds()
        entries.withLock { entries in
            for case .tooBig(let destination, let mtu) in notices {
                for (name, entry) in entries where entry.target.address == destination || Self.host(entry.target.endpoint) == destination {
                    guard entry.due > now + 1000 else { continue }
                    entries[name]?.due = now
                    logger.info("\"too big\" (MTU \(mtu)) for \(destination): measuring peer \"\(name)\" again")
                }
            }
        }
    }

    /// "203.0.113.5:51820" or "[2001:db8::5]:51820" -> the address.
    static func host(_ endpoint: String?) -> String? {
        guard let endpoint, let colon = endpoint.lastIndex(of: ":") else { return nil }
        let host = endpoint[..<colon]
        return host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : String(host)
    }

    private static func sameKind(_ a: State, _ b: State) -> Bool {
        switch (a, b) {
        case (.measuring, .measuring), (.measured, .measured), (.fallback, .fallback), (.unavailable, .unavailable): true
        default: false
        }
    }

    static func note(_ entry: Entry) -> String {
        switch entry.state {
        case .measuring where entry.due == .max:
            return "provisional until the peer's first handshake, then measured"
        case .measuring:
            return "provisional while measuring \(entry.target.address)"
        case .measured(let mtu, let at, let probes):
            return "measured: path MTU \(mtu) to \(entry.target.address) at \(UTCTimestamp.text(at)), \(probes) probes"
        case .fallback(let reason, let at):
            return "fallback (\(entry.target.fallbackSource)): \(reason) at \(UTCTimestamp.text(at)); tried again in \(retryDelay(failures: entry.failures) / 1000) s"
        case .unavailable(let reason):
            return "fallback (\(entry.target.fallbackSource)): not measured, \(reason)"
        }
    }
}
