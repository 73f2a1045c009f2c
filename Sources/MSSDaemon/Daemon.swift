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
    public var policy: PolicySnapshot
    /// Add the NFQUEUE rules on start and remove them on exit.
    public var installRules: Bool
    public var hooks: [Hook]
    public var cpuFanout: Bool
    public var malformedAction: MalformedAction

    public init(
        queues: QueueRange, queue: QueueConfiguration = QueueConfiguration(), policy: PolicySnapshot,
        installRules: Bool = false, hooks: [Hook] = [.forward], cpuFanout: Bool = false,
        malformedAction: MalformedAction = .accept
    ) {
        self.queues = queues
        self.queue = queue
        self.policy = policy
        self.installRules = installRules
        self.hooks = hooks
        self.cpuFanout = cpuFanout
        self.malformedAction = malformedAction
    }

    /// The rules this configuration installs (shared with `mssclamp rules`).
    public var ruleSpec: RuleSpec {
        RuleSpec(
            queues: queues, lowest: policy.lowestCeilings, insertMissing: policy.insertMissing, hooks: hooks,
            cpuFanout: cpuFanout)
    }
}

/// A failure that ends the daemon, with its exit code (sysexits).
public struct DaemonError: Error, CustomStringConvertible {
    public var message: String
    public var exitCode: Int32
    public var description: String { message }
}

/// The daemon: binds every queue, installs rules if asked, runs one worker thread per queue, and waits
/// for signals: SIGINT/SIGTERM stop it (within a second), SIGUSR1 prints the counters.
public final class Daemon: @unchecked Sendable {
    public let configuration: DaemonConfiguration
    public let store: PolicyStore
    private let logger: Logger
    private var workers: [Worker] = []
    private var threads: [WorkerThread] = []
    private var rulesBackend: IptablesBackend?
    /// Where SIGUSR1 reports and the exit report go.
    private let report: @Sendable (String) -> Void

    public init(
        configuration: DaemonConfiguration, logger: Logger,
        report: @escaping @Sendable (String) -> Void = { text in
            print(text)
            fflush(nil)  // all streams: stdout may be a file or a pipe under a supervisor
        }
    ) {
        self.configuration = configuration
        store = PolicyStore(configuration.policy)
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
        if configuration.installRules {
            do {
                let backend = try IptablesBackend.detect()
                try backend.apply(configuration.ruleSpec)
                rulesBackend = backend
                logger.info(
                    "rules installed with iptables-\(backend.variant.rawValue) (\(configuration.hooks.map(\.chain).joined(separator: ", ")) -> \(configuration.ruleSpec.chain))"
                )
            } catch {
                logger.error("cannot install rules: \(error.message)")
                workers.removeAll()
                return error.exitCode
            }
        }
        for worker in workers {
            threads.append(WorkerThread { worker.run() })
        }
        let ceilings = configuration.policy.defaults
        logger.info(
            "clamping on queue \(configuration.queues): ceilings IPv4 \(ceilings.ipv4.map(String.init) ?? "none"), IPv6 \(ceilings.ipv6.map(String.init) ?? "none"); insert missing MSS: \(configuration.policy.insertMissing ? "yes" : "no"); fail-open: \(configuration.queue.failOpen ? "yes" : "no")"
        )

        var exitCode: Int32 = 0
        loop: while true {
            switch signals.wait(timeoutMilliseconds: 250) {
            case SIGINT, SIGTERM:
                logger.info("stopping")
                break loop
            case SIGUSR1:
                report(renderedReport())
            case SIGHUP:
                reload()
            default:
                if let failed = workers.lazy.compactMap({ $0.failure.withLock { $0 } }).first {
                    logger.error("worker stopped: \(failed.description)")
                    exitCode = 70
                    break loop
                }
            }
        }
        shutdown()
        report(renderedReport())
        return exitCode
    }

    /// Reloading a policy file arrives with the per-peer policy; until then SIGHUP is acknowledged only.
    func reload() {
        logger.info("SIGHUP: nothing to reload (no policy file)")
    }

    /// Stops the workers, removes the rules it installed and closes the queues.
    public func shutdown() {
        for worker in workers { worker.requestStop() }
        for thread in threads { thread.join() }
        threads.removeAll()
        if let backend = rulesBackend {
            do {
                try backend.remove(chain: configuration.ruleSpec.chain)
                logger.info("rules removed")
            } catch {
                logger.error("cannot remove rules: \(error.message)")
            }
            rulesBackend = nil
        }
    }

    /// Counters plus the kernel's view of each queue.
    public func renderedReport() -> String {
        let kernel = KernelQueueStatus.read().filter { configuration.queues.queues.contains($0.queue) }
        return statistics.rendered(title: "mssclamp statistics, queue \(configuration.queues)", kernel: kernel)
    }
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
