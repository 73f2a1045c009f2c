import MSSPolicy

/// A worker's guard against a tunnel interface recreated with a new index that the policy has not heard
/// of yet. The link event and the main loop's 5-second check re-resolve the peers' interface names, but a
/// SYN through the new interface can come first (a starved event thread, a busy lock): it would get the
/// defaults, and only the safety net would lower it.
///
/// Each index a packet names is checked once per policy version: its name now (`if_indextoname`, one
/// ioctl) against the index the policy resolved for that name. A mismatch means the policy is stale, and
/// the worker has it re-resolved before deciding the packet. The common case is one compare per index;
/// the table is direct-mapped and small, so the cost stays bounded however many interfaces come and go.
struct InterfaceWatch {
    private static let slots = 256
    /// Slot `index % slots` holds an index already checked against `version` (0: none).
    private var checked = [UInt32](repeating: 0, count: InterfaceWatch.slots)
    private var version: UInt64 = 0
    private let name: (UInt32) -> String?

    init(name: @escaping (UInt32) -> String? = PolicySnapshot.systemInterfaceName) {
        self.name = name
    }

    /// True when the interface with `index` (0: none) has a name some peer uses and `policy` resolved
    /// that name to another index. A stale answer is not remembered: the next packet asks again, until
    /// a new policy version resolves it.
    @inline(__always)
    mutating func isStale(_ index: UInt32, policy: PolicySnapshot) -> Bool {
        if index == 0 { return false }
        if version != policy.version {
            for slot in checked.indices { checked[slot] = 0 }
            version = policy.version
        }
        let slot = Int(index % UInt32(Self.slots))
        if checked[slot] == index { return false }
        guard let current = name(index), let resolved = policy.interfaceIndexes[current], resolved != index else {
            checked[slot] = index
            return false
        }
        return true
    }
}
