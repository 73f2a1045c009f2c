import MSSPolicy
import Synchronization

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
