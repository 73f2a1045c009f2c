import CMSSClampShim
import Foundation
import Logging
import MSSPolicy
import MSSQueue
import MSSRules
import MSSWire
import Synchronization

/// Everything `mssclamp run` needs.
public struct DaemonConfiguration: Sendable {
    public var queues: QueueRange
    public var queue: QueueConfiguration
    public var policy: PolicyConfiguration
    /// The policy file, reread on SIGHUP (nil: the policy came from --mss).
    public var policyPath: String?
    /// The control socket (nil: none).
    public var controlSocket: String?
    /// Add the NFQUEUE rules on start and remove them on exit.
    public var installRules: Bool
    public var hooks: [Hook]
    public var cpuFanout: Bool
    public var malformedAction: MalformedAction
    /// Drop every capability but CAP_NET_ADMIN once the queues are bound (default on).
    public var dropPrivileges = true
    /// Also become this user (keeping CAP_NET_ADMIN).
    public var user: String?
    /// Serve Prometheus metrics on HOST:PORT.
    public var metricsAddress: String?
    /// Log at most this many clamps per second and worker (0: none).
    public var auditPerSecond = 0

    public init(
        queues: QueueRange, queue: QueueConfiguration = QueueConfiguration(), policy: PolicyConfiguration,
        policyPath: String? = nil, controlSocket: String? = nil, installRules: Bool = false,
        hooks: [Hook] = [.forward], cpuFanout: Bool = false, malformedAction: MalformedAction = .accept
    ) {
        self.queues = queues
        self.queue = queue
        self.policy = policy
        self.policyPath = policyPath
        self.controlSocket = controlSocket
        self.installRules = installRules
        self.hooks = hooks
        self.cpuFanout = cpuFanout
        self.malformedAction = malformedAction
    }

    /// The rules for a policy snapshot (shared with `mssclamp rules`).
    public func ruleSpec(_ snapshot: PolicySnapshot) -> RuleSpec {
        RuleSpec(
            queues: queues, lowest: snapshot.lowestCeilings, insertMissing: snapshot.insertMissing, hooks: hooks,
            cpuFanout: cpuFanout)
    }
}

/// A failure that ends the daemon, with its exit code (sysexits).
public struct DaemonError: Error, CustomStringConvertible {
    public var message: String
    public var exitCode: Int32
    public var description: String { message }
}

/// The daemon: binds every queue, installs rules if asked, runs one worker thread per queue, serves the
/// control socket, and waits for signals: SIGINT/SIGTERM stop it (within a second), SIGUSR1 prints the
/// counters, SIGHUP rereads the policy file.
public final class Daemon: @unchecked Sendable {
    public let configuration: DaemonConfiguration
    public let policy: PolicyManager
    public var store: PolicyStore { policy.store }
    private let logger: Logger
    private var workers: [Worker] = []
    private var threads: [WorkerThread] = []
    private var control: ControlServer?
    private var metrics: MetricsServer?
    /// Policy changes by result ("reload_ok", "reload_rejected", "peer_add", ...), for the metrics.
    private let changes = Mutex<[String: UInt64]>([:])
    /// The rules this daemon installed and the spec they were rendered from.
    private let rules = Mutex<(backend: IptablesBackend, spec: RuleSpec)?>(nil)
    /// Where SIGUSR1 reports and the exit report go.
    private let report: @Sendable (String) -> Void

    public init(
        configuration: DaemonConfiguration, logger: Logger,
        report: @escaping @Sendable (String) -> Void = { text in
            print(text)
            fflush(nil)  // all streams: stdout may be a file or a pipe under a supervisor
        }
    ) throws(DaemonError) {
        self.configuration = configuration
        do {
            policy = try PolicyManager(configuration: configuration.policy, path: configuration.policyPath)
        } catch {
            throw DaemonError(message: error.description, exitCode: 65)
        }
        self.logger = logger
        self.report = report
    }

    /// The counters of every worker, summed.
    public var statistics: Statistics {
        var total = Statistics()
        for worker in workers { total.merge(worker.statistics) }
        return total
    }

    /// Checks privileges and binds every queue. Nothing runs yet; an error leaves nothing behind.
    public func prepare() throws(DaemonError) {
        guard Privileges.hasNetAdmin else {
            throw DaemonError(message: "mssclamp run needs root or CAP_NET_ADMIN (binding NFQUEUE)", exitCode: 69)
        }
        do {
            for queue in configuration.queues.queues {
                let socket = try QueueSocket(queue: queue, configuration: configuration.queue)
                workers.append(Worker(socket: socket, store: store, malformedAction: configuration.malformedAction))
            }
        } catch {
            workers.removeAll()
            let code: Int32 = error.kind == .failed ? 70 : 69
            throw DaemonError(message: error.description, exitCode: code)
        }
        if let address = configuration.metricsAddress {
            do {
                let server = try MetricsServer(address: address) { [unowned self] in
                    MetricsServer.MetricsSnapshot(
                        statistics: statistics,
                        kernel: KernelQueueStatus.read().filter { configuration.queues.queues.contains($0.queue) },
                        policyVersion: store.currentVersion, reloads: changes.withLock { $0 },
                        peers: store.snapshot.peers.count)
                }
                metrics = server
                for worker in workers {
                    let histogram = server.batchSizes
                    worker.batchObserver = { histogram.record(Double($0)) }
                }
            } catch {
                workers.removeAll()
                throw error
            }
        }
        if configuration.auditPerSecond > 0 {
            for worker in workers { worker.audit = ClampAudit(logger: logger, perSecond: configuration.auditPerSecond) }
        }
        if let path = configuration.controlSocket {
            do {
                control = try ControlServer(path: path) { [unowned self] request in handle(request) }
            } catch {
                workers.removeAll()
                throw DaemonError(message: error.description, exitCode: error.exitCode)
            }
        }
    }

    /// Runs until SIGINT or SIGTERM (or a worker fails); returns the exit code.
    public func run() -> Int32 {
        let signals = SignalWaiter([SIGINT, SIGTERM, SIGUSR1, SIGHUP])
        do {
            try prepare()
        } catch {
            logger.error("\(error.message)")
            return error.exitCode
        }
        // The queues are bound: nothing but CAP_NET_ADMIN is needed from here on (verdicts, and the
        // iptables/nft runs, which inherit it as an ambient capability). Capabilities are per thread, so
        // this runs before any other thread exists (Foundation's Process starts some for the rules).
        if configuration.dropPrivileges {
            // iptables-legacy's tools need CAP_NET_RAW besides CAP_NET_ADMIN; a daemon that manages its
            // rules with them keeps it (the nf_tables variant needs CAP_NET_ADMIN only).
            let legacy = configuration.installRules && IptablesVariant.fromInstalledCommand() == .legacy
            do {
                try Privileges.dropToNetAdmin(user: configuration.user, extra: legacy ? Privileges.netRaw : 0)
                logger.info(
                    "privileges dropped: CAP_NET_ADMIN only\(legacy ? " (and CAP_NET_RAW, which iptables-legacy needs to update and remove the rules)" : "")\(configuration.user.map { ", running as \($0)" } ?? "")"
                )
            } catch {
                logger.error("\(error.message)")
                workers.removeAll()
                control?.stop()
                return error.exitCode
            }
        }
        if configuration.installRules {
            do {
                let backend = try IptablesBackend.detect()
                let spec = configuration.ruleSpec(store.snapshot)
                try backend.apply(spec)
                rules.withLock { $0 = (backend, spec) }
                logger.info(
                    "rules installed with iptables-\(backend.variant.rawValue) (\(configuration.hooks.map(\.chain).joined(separator: ", ")) -> \(spec.chain), MSS above \(describe(spec.lowest)))"
                )
            } catch {
                logger.error("cannot install rules: \(error.message)")
                workers.removeAll()
                control?.stop()
                return error.exitCode
            }
        }
        for worker in workers {
            threads.append(WorkerThread { worker.run() })
        }
        control?.start()
        metrics?.start()
        let snapshot = store.snapshot
        logger.info(
            "clamping on queue \(configuration.queues): defaults \(describe(snapshot.defaults)), \(snapshot.peers.count) peer(s); insert missing MSS: \(snapshot.insertMissing ? "yes" : "no"); fail-open: \(configuration.queue.failOpen ? "yes" : "no")\(control.map { "; control socket \($0.path)" } ?? "")\(metrics.map { "; metrics on http://\($0.address)/metrics" } ?? "")"
        )
        warnMissingInterfaces(snapshot)

        var exitCode: Int32 = 0
        var lastInterfaceCheck = DispatchTime.now()
        loop: while true {
            switch signals.wait(timeoutMilliseconds: 250) {
            case SIGINT, SIGTERM:
                logger.info("stopping")
                break loop
            case SIGUSR1:
                report(renderedReport())
            case SIGHUP:
                _ = reload()
            default:
                if let failed = workers.lazy.compactMap({ $0.failure.withLock { $0 } }).first {
                    logger.error("worker stopped: \(failed.description)")
                    exitCode = 70
                    break loop
                }
                // Tunnel interfaces come and go with new indexes: re-resolve peers' names every 5 s.
                if DispatchTime.now().uptimeNanoseconds - lastInterfaceCheck.uptimeNanoseconds > 5_000_000_000 {
                    lastInterfaceCheck = DispatchTime.now()
                    if let snapshot = policy.refreshInterfaces() {
                        logger.info("interface indexes changed; policy version \(snapshot.version)")
                    }
                }
            }
        }
        shutdown()
        report(renderedReport())
        return exitCode
    }

    /// Rereads the policy file; a bad file is logged and the running policy stays.
    @discardableResult
    func reload() -> ControlResponse {
        do {
            let snapshot = try policy.reload()
            let message = "policy reloaded from \(policy.path ?? "-"): version \(snapshot.version), defaults \(describe(snapshot.defaults)), \(snapshot.peers.count) peer(s)"
            logger.info("\(message)")
            changes.withLock { $0["reload_ok", default: 0] += 1 }
            afterChange(snapshot)
            return ControlResponse(ok: true, message: message)
        } catch {
            changes.withLock { $0["reload_rejected", default: 0] += 1 }
            for diagnostic in error.diagnostics { logger.error("\(diagnostic.description)") }
            logger.error("reload rejected; the running policy (version \(store.currentVersion)) stays")
            return ControlResponse(ok: false, error: error.description + "\nreload rejected; the running policy stays")
        }
    }

    /// Keeps the rule prefilter in step with the policy: a new lowest ceiling re-renders the rules this
    /// daemon installed (SYNs between the new and the old value would otherwise never be queued).
    private func afterChange(_ snapshot: PolicySnapshot) {
        warnMissingInterfaces(snapshot)
        let spec = configuration.ruleSpec(snapshot)
        let managed = rules.withLock { installed -> Bool in
            guard let current = installed else { return false }
            guard current.spec != spec else { return true }
            do {
                try current.backend.apply(spec)
                installed = (current.backend, spec)
                logger.info("rules updated: MSS above \(describe(spec.lowest)) is queued")
            } catch {
                logger.error(
                    "cannot update the rules for the new policy: \((error as? RuleError)?.message ?? "\(error)"); the old prefilter stays (MSS above \(describe(current.spec.lowest)))"
                )
            }
            return true
        }
        if !managed {
            logger.info(
                "lowest ceilings now \(describe(snapshot.lowestCeilings)); rules applied with `mssclamp rules apply` queue only MSS above the lowest ceiling they were made for: reapply them if it went down"
            )
        }
    }

    private func warnMissingInterfaces(_ snapshot: PolicySnapshot) {
        for name in snapshot.missingInterfaces {
            logger.warning("interface \(name) does not exist (yet); peers naming it match nothing until it appears")
        }
    }

    /// Serves one control request.
    func handle(_ request: ControlRequest) -> ControlResponse {
        switch request.command {
        case .reload:
            return reload()
        case .peerAdd:
            guard let fields = request.peer else { return ControlResponse(ok: false, error: "peer-add needs a peer") }
            do {
                let definition = try fields.definition()
                let snapshot = try policy.add(definition, replace: request.replace ?? false)
                let message = "peer \"\(definition.name)\" added (live): \(definition.ceiling.summary); policy version \(snapshot.version)"
                changes.withLock { $0["peer_add", default: 0] += 1 }
                logger.info("\(message)")
                afterChange(snapshot)
                return ControlResponse(ok: true, message: message)
            } catch {
                return ControlResponse(ok: false, error: error.description)
            }
        case .peerRemove:
            guard let name = request.name else { return ControlResponse(ok: false, error: "peer-remove needs a name") }
            do {
                let snapshot = try policy.remove(name: name)
                let message = "peer \"\(name)\" removed; policy version \(snapshot.version)"
                changes.withLock { $0["peer_remove", default: 0] += 1 }
                logger.info("\(message)")
                afterChange(snapshot)
                return ControlResponse(ok: true, message: message)
            } catch {
                return ControlResponse(ok: false, error: error.description)
            }
        case .peerSave:
            do {
                let count = try policy.save()
                let message = count == 0 ? "no live peers to save" : "\(count) live peer(s) appended to \(policy.path ?? "-"); they are file peers now"
                logger.info("\(message)")
                return ControlResponse(ok: true, message: message)
            } catch {
                return ControlResponse(ok: false, error: error.description)
            }
        case .peerList:
            let snapshot = store.snapshot
            let counters = statistics.peers
            var response = ControlResponse(ok: true)
            response.peers = snapshot.definitions.map { definition in
                let origin: String
                switch definition.origin {
                case .file(let file, let line): origin = "\(file):\(line)"
                case .live: origin = "live"
                }
                let ceilings = definition.ceiling.ceilings
                return PeerReport(
                    name: definition.name, origin: origin, match: definition.match.map(\.description),
                    inInterface: definition.inInterface, outInterface: definition.outInterface,
                    fwmark: definition.fwmark?.description, mss4: ceilings.ipv4, mss6: ceilings.ipv6,
                    ceiling: definition.ceiling.summary, counters: counters[definition.name] ?? PeerCounters())
            }
            response.defaults = snapshot.defaults
            response.policyVersion = snapshot.version
            return response
        case .stats:
            var response = ControlResponse(ok: true, message: renderedReport())
            response.statistics = statistics
            response.policyVersion = store.currentVersion
            return response
        }
    }

    /// Stops the workers and the control socket, removes the rules it installed and closes the queues.
    public func shutdown() {
        control?.stop()
        control = nil
        metrics?.stop()
        metrics = nil
        for worker in workers { worker.requestStop() }
        for thread in threads { thread.join() }
        threads.removeAll()
        let installed = rules.withLock { current in
            defer { current = nil }
            return current
        }
        if let installed {
            do {
                try installed.backend.remove(chain: installed.spec.chain)
                logger.info("rules removed")
            } catch {
                logger.error("cannot remove rules: \(error.message)")
            }
        }
    }

    /// Counters plus the kernel's view of each queue.
    public func renderedReport() -> String {
        let kernel = KernelQueueStatus.read().filter { configuration.queues.queues.contains($0.queue) }
        return statistics.rendered(title: "mssclamp statistics, queue \(configuration.queues), policy version \(store.currentVersion)", kernel: kernel)
    }
}

/// "1360/1340" (IPv4/IPv6), "none" where a family is not clamped.
func describe(_ ceilings: Ceilings) -> String {
    "\(ceilings.ipv4.map(String.init) ?? "none")/\(ceilings.ipv6.map(String.init) ?? "none")"
}

/// A POSIX thread that can be joined.
final class WorkerThread: @unchecked Sendable {
    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(status == 0, "pthread_create failed: \(status)")
    }

    func join() { pthread_join(thread, nil) }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}

/// Blocks the given signals in every thread (call before creating threads) and waits for them.
final class SignalWaiter {
    private var set = sigset_t()

    init(_ signals: [Int32]) {
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// The next signal, or 0 after the timeout.
    func wait(timeoutMilliseconds: Int) -> Int32 {
        var timeout = timespec(tv_sec: timeoutMilliseconds / 1000, tv_nsec: (timeoutMilliseconds % 1000) * 1_000_000)
        let signal = sigtimedwait(&set, nil, &timeout)
        return signal > 0 ? signal : 0
    }
}

/// Root or CAP_NET_ADMIN.
public enum Privileges {
    /// CAP_NET_RAW (13): iptables-legacy's tools open a raw socket.
    public static let netRaw: UInt64 = 1 << 13

    /// Keeps only CAP_NET_ADMIN (effective, permitted, inheritable, ambient; everything else also out of
    /// the bounding set), plus `extra`, and, with `user`, takes that user's identity. Called once the
    /// queues are bound.
    public static func dropToNetAdmin(user: String?, extra: UInt64 = 0) throws(DaemonError) {
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        if let user {
            guard let entry = getpwnam(user) else {
                throw DaemonError(message: "--user \(user): no such user", exitCode: 67)
            }
            uid = entry.pointee.pw_uid
            gid = entry.pointee.pw_gid
        }
        var step: UnsafePointer<CChar>? = nil
        guard CMSSClampShim_drop_capabilities(netAdmin | extra, user == nil ? 0 : 1, uid, gid, &step) == 0 else {
            let call = step.map { String(cString: $0) } ?? "?"
            throw DaemonError(message: "cannot drop privileges (\(call)): \(String(cString: strerror(errno)))", exitCode: 71)
        }
    }

    /// CAP_NET_ADMIN is capability 12 (linux/capability.h).
    static let netAdmin: UInt64 = 1 << 12

    public static var hasNetAdmin: Bool {
        if geteuid() == 0 { return true }
        return effectiveCapabilities & netAdmin != 0
    }

    /// The CapEff mask from /proc/self/status.
    public static var effectiveCapabilities: UInt64 {
        capabilityMask("CapEff") ?? 0
    }

    public static func capabilityMask(_ field: String, status path: String = "/proc/self/status") -> UInt64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return UInt64(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces), radix: 16)
        }
        return nil
    }
}
