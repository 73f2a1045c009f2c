import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Whether tests that build hosts in network namespaces can run here: they need root and `ip netns`.
/// CI runs as root, so there they always run.
public enum IntegrationEnvironment {
    public static let skipReason: String? = {
        if geteuid() != 0 { return "integration tests need root (network namespaces, iptables, NFQUEUE)" }
        guard let result = try? Shell.run(["ip", "netns", "list"]), result.succeeded else {
            return "integration tests need `ip netns` (iproute2) and network namespace support"
        }
        return nil
    }()

    public static var available: Bool { skipReason == nil }
}

/// Names unique to this process and call, short enough for interface names (15 characters).
public enum UniqueName {
    private static let counter = Counter()

    /// For example "ms12345a7"; prefix at most 3 characters.
    public static func make(_ prefix: String) -> String {
        let pid = getpid() % 100_000
        return "\(prefix)\(pid)x\(counter.next())"
    }

    private final class Counter: @unchecked Sendable {
        private var value = 0
        private let lock = NSLock()
        func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}

/// A network namespace owned by a test: created on init, deleted (with its veth ends and processes) on
/// `delete()` or when released, whether the test passed or not.
public final class NetworkNamespace: @unchecked Sendable {
    public let name: String
    private var deleted = false

    /// All namespaces made by the test suite carry this prefix, so `scripts/test` can remove leftovers of
    /// a crashed run.
    public static let prefix = "mct"

    public init() throws {
        name = UniqueName.make(Self.prefix)
        try Shell.check(["ip", "netns", "add", name])
        try exec(["ip", "link", "set", "lo", "up"])
    }

    /// Runs a command inside the namespace and throws unless it succeeds.
    @discardableResult
    public func exec(_ arguments: [String], timeout: TimeInterval = 60) throws -> String {
        try Shell.check(["ip", "netns", "exec", name] + arguments, timeout: timeout)
    }

    /// Runs a command inside the namespace and returns its result whatever the status.
    @discardableResult
    public func run(_ arguments: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        try Shell.run(["ip", "netns", "exec", name] + arguments, timeout: timeout)
    }

    /// Starts a background program inside the namespace.
    public func spawn(_ arguments: [String]) throws -> BackgroundProcess {
        try BackgroundProcess(["ip", "netns", "exec", name] + arguments)
    }

    /// Kills what still runs inside and deletes the namespace.
    public func delete() {
        guard !deleted else { return }
        deleted = true
        if let pids = try? Shell.run(["ip", "netns", "pids", name]).output {
            for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
        _ = try? Shell.run(["ip", "netns", "del", name])
    }

    deinit { delete() }
}

/// A veth pair between two namespaces with addresses on both ends.
public struct VethLink {
    public let left: String
    public let right: String

    /// Creates the pair, moves the ends, brings them up and disables checksum offload so that captures
    /// show final checksums rather than the partial ones offload leaves.
    public init(
        _ a: NetworkNamespace, _ b: NetworkNamespace, addressA: String? = nil, addressB: String? = nil,
        mtu: Int = 1500
    ) throws {
        let base = UniqueName.make("v")
        left = base + "a"
        right = base + "b"
        try Shell.check(["ip", "link", "add", left, "netns", a.name, "type", "veth", "peer", "name", right, "netns", b.name])
        for (namespace, interface, address) in [(a, left, addressA), (b, right, addressB)] {
            try namespace.exec(["ip", "link", "set", interface, "mtu", String(mtu), "up"])
            if let address {
                // IPv6 addresses skip duplicate address detection so they are usable at once.
                let extra = address.contains(":") ? ["nodad"] : []
                try namespace.exec(["ip", "addr", "add", address, "dev", interface] + extra)
            }
            _ = try? namespace.run(["ethtool", "-K", interface, "tx", "off", "rx", "off"])
        }
    }
}
