import Foundation
import Logging
import MSSControl
import MSSPolicy
import MSSSystem
import MSSVICI
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The strongSwan source: charon's CHILD_SAs, followed over its VICI socket. One listing when connected
/// (`list-sas`), then events: `child-updown`, `child-rekey`, `ike-updown`, `ike-rekey`, `ike-update`. No
/// polling and no `swanctl`. When charon goes away the last SAs stay in force (their tunnels may still
/// be up) and the source reconnects with backoff; the listing after a reconnect replaces them all.
final class StrongSwanSource: @unchecked Sendable {
    /// The socket to follow, or nil when no template follows strongSwan (then nothing connects).
    let socket: @Sendable () -> String?
    /// Called after the SAs changed (outside this object's locks).
    let changed: @Sendable () -> Void
    let logger: Logger

    /// The installed CHILD_SAs by their unique id.
    let sas = Mutex<[String: IPsecChildSA]>([:])
    let status = Mutex(Status())
    let stopping = Atomic(false)
    var thread: NamedThread?

    struct Status {
        var socket: String?
        var connected = false
        var since: Double?
        var error: String?
        /// The last error logged, so a charon that stays away is logged once, not at every retry.
        var logged: String?
    }

    /// Events followed; charon answers EVENT_UNKNOWN for one it does not have (an older charon), and the
    /// rest still work.
    static let events = ["child-updown", "child-rekey", "ike-updown", "ike-rekey", "ike-update"]
    /// Reconnection backoff: 250 ms, doubling, at most 5 s, so a restarted charon is followed within 5 s.
    static let firstBackoffMilliseconds: Int64 = 250
    static let longestBackoffMilliseconds: Int64 = 5000
    /// Who may serve the socket: root (charon), or the daemon's own uid.
    static var serverUIDs: Set<UInt32> { [0, getuid()] }

    init(logger: Logger, socket: @escaping @Sendable () -> String?, changed: @escaping @Sendable () -> Void) {
        self.logger = logger
        self.socket = socket
        self.changed = changed
    }

    func start() {
        thread = NamedThread(name: "mssclamp-vici") { [self] in run() }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        thread?.join()
        thread = nil
    }

    /// The SAs in force, oldest first.
    var children: [IPsecChildSA] {
        sas.withLock { Array($0.values) }.sorted { ($0.childID.count, $0.childID) < ($1.childID.count, $1.childID) }
    }

    func run() {
        var backoff = Self.firstBackoffMilliseconds
        while !stopping.load(ordering: .relaxed) {
            guard let path = socket() else {
                status.withLock { $0 = Status() }
                pause(200)
                continue
            }
            do {
                let connection = try VICIConnection(path: path, serverUIDs: Self.serverUIDs)
                backoff = Self.firstBackoffMilliseconds
                try follow(connection, path: path)
            } catch {
                lost(path: path, error: error.description)
                pause(backoff)
                backoff = min(backoff * 2, Self.longestBackoffMilliseconds)
            }
        }
    }

    /// Sleeps in short steps, so a stop is not kept waiting.
    func pause(_ milliseconds: Int64) {
        let end = monotonicMilliseconds() + milliseconds
        while !stopping.load(ordering: .relaxed), monotonicMilliseconds() < end { usleep(50_000) }
    }

    func lost(path: String, error: String) {
        let log = status.withLock { status -> Bool in
            let wasConnected = status.connected
            if wasConnected || status.socket != path { status.since = Date().timeIntervalSince1970 }
            status.socket = path
            status.connected = false
            status.error = error
            defer { status.logged = error }
            return wasConnected || status.logged != error
        }
        if log { logger.warning("strongswan: not connected to charon (\(error)); retrying, the last SAs stay in force") }
    }

    /// Registers, lists, then applies events until the socket setting changes, the daemon stops, or the
    /// connection fails.
    func follow(_ connection: VICIConnection, path: String) throws(VICIError) {
        for event in Self.events where try !connection.register(event) {
            logger.warning("strongswan: charon on \(path) has no \(event) event; that change shows at the next reconnect")
        }
        guard try connection.register("list-sa") else { throw VICIError("charon has no list-sa event") }
        let (_, listed) = try connection.request("list-sas", streaming: "list-sa", timeoutMilliseconds: 30_000)
        var table: [String: IPsecChildSA] = [:]
        for message in listed {
            for (name, ike) in StrongSwanSAs.ikeSections(message) {
                for child in StrongSwanSAs.children(connection: name, ike: ike) { table[child.childID] = child }
            }
        }
        sas.withLock { $0 = table }
        status.withLock { status in
            status = Status(socket: path, connected: true, since: Date().timeIntervalSince1970, error: nil, logged: nil)
        }
        logger.info("strongswan: following charon on \(path): \(table.count) CHILD_SA(s)")
        changed()
        while !stopping.load(ordering: .relaxed), socket() == path {
            guard let (name, message) = try connection.nextEvent(timeoutMilliseconds: 200) else { continue }
            let changes = sas.withLock { sas in Self.apply(event: name, message, to: &sas) }
            if changes { changed() }
        }
    }

    /// Applies one event to the SA table; true when the table changed.
    static func apply(event: String, _ message: VICIMessage, to table: inout [String: IPsecChildSA]) -> Bool {
        let before = table
        for (name, ike) in StrongSwanSAs.ikeSections(message) {
            switch event {
            case "child-updown":
                for (key, child) in ike.section("child-sas")?.sections ?? [] {
                    if message.string("up") == "yes" {
                        if let sa = StrongSwanSAs.child(connection: name, ike: ike, key: key, child: child) { table[sa.childID] = sa }
                    } else if let id = child.string("uniqueid") {
                        table[id] = nil
                    }
                }
            case "child-rekey":
                for (key, pair) in ike.section("child-sas")?.sections ?? [] {
                    if let old = pair.section("old")?.string("uniqueid") { table[old] = nil }
                    if let new = pair.section("new"), let sa = StrongSwanSAs.child(connection: name, ike: ike, key: key, child: new) {
                        table[sa.childID] = sa
                    }
                }
            case "ike-updown":
                // An IKE_SA that goes takes its CHILD_SAs along, whether or not each raised child-updown.
                if message.string("up") != "yes", let id = ike.string("uniqueid") {
                    table = table.filter { $0.value.ikeID != id }
                }
            case "ike-rekey":
                // The CHILD_SAs move to the new IKE_SA: the same SAs, a new IKE_SA id (and maybe address).
                guard let old = ike.section("old")?.string("uniqueid"), let new = ike.section("new") else { continue }
                for id in Array(table.keys) where table[id]?.ikeID == old {
                    if let newID = new.string("uniqueid") { table[id]?.ikeID = newID }
                    if let host = new.string("remote-host") { table[id]?.moved(to: host, port: new.string("remote-port")) }
                }
            case "ike-update":
                // A roam (MOBIKE, a new NAT mapping): the outer address changes, and with it maybe the family.
                guard let id = ike.string("uniqueid") else { continue }
                guard let host = message.string("remote-host") ?? ike.string("remote-host") else { continue }
                let port = message.string("remote-port") ?? ike.string("remote-port")
                for key in Array(table.keys) where table[key]?.ikeID == id { table[key]?.moved(to: host, port: port) }
            default:
                break
            }
        }
        return table != before
    }

    /// What `stats` and the metrics show of the connection (the SAs are added by the rendering).
    func report(sas: [IPsecSAReport]) -> StrongSwanReport? {
        status.withLock { status in
            guard let socket = status.socket else { return nil }
            return StrongSwanReport(
                socket: socket, connected: status.connected, since: status.since, error: status.error, sas: sas)
        }
    }
}

extension IPsecChildSA {
    /// The IKE_SA now talks to `host` (the outer header's family follows it).
    mutating func moved(to host: String, port: String?) {
        remoteHost = host
        remotePort = port ?? remotePort
        proposal.outerIPv6 = host.contains(":")
    }
}
