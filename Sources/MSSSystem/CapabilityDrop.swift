import CMSSClampShim

#if canImport(Glibc)
    import Glibc
#endif

/// The calls the capability drop makes, replaceable so unit tests can follow its steps without a kernel.
/// Each returns the call's result and the errno read right after it (meaningful only when it failed).
public struct CapabilityCalls: Sendable {
    public typealias Outcome = (result: Int32, errno: Int32)
    /// prctl(option, argument2, argument3, 0, 0).
    public var prctl: @Sendable (_ option: Int32, _ argument2: UInt, _ argument3: UInt) -> Outcome
    /// setgroups(0, NULL): no supplementary groups.
    public var clearGroups: @Sendable () -> Outcome
    public var setgid: @Sendable (UInt32) -> Outcome
    public var setuid: @Sendable (UInt32) -> Outcome
    /// capset for the calling thread: effective, permitted and inheritable all set to the mask.
    public var capset: @Sendable (_ mask: UInt64) -> Outcome

    public init(
        prctl: @escaping @Sendable (Int32, UInt, UInt) -> Outcome, clearGroups: @escaping @Sendable () -> Outcome,
        setgid: @escaping @Sendable (UInt32) -> Outcome, setuid: @escaping @Sendable (UInt32) -> Outcome,
        capset: @escaping @Sendable (UInt64) -> Outcome
    ) {
        self.prctl = prctl
        self.clearGroups = clearGroups
        self.setgid = setgid
        self.setuid = setuid
        self.capset = capset
    }

    /// The real calls.
    public static let system = CapabilityCalls(
        prctl: { option, argument2, argument3 in (CMSSClampShim_prctl(option, argument2, argument3, 0, 0), errno) },
        clearGroups: { (setgroups(0, nil), errno) },
        setgid: { (Glibc.setgid($0), errno) },
        setuid: { (Glibc.setuid($0), errno) },
        capset: { mask in (CMSSClampShim_capset(mask, mask, mask), errno) })
}

/// Drops every capability but a few, for good, and optionally the root identity.
///
/// Capabilities are per thread: call it before the process starts any other thread, so every thread
/// inherits the result.
public enum CapabilityDrop {
    /// Capability numbers run below 64 (two 32-bit words in _LINUX_CAPABILITY_VERSION_3).
    static let capabilityLimit: UInt = 64

    /// Drops every capability not in `keep`: the bounding set, then (with `identity`) the identity, keeping
    /// capabilities across setuid, then permitted/effective/inheritable, and finally raises the kept ones as
    /// ambient so the iptables/nft tools the daemon runs keep them.
    /// - Parameters:
    ///   - keep: a mask of capability bits.
    ///   - identity: the uid and gid to take; nil stays root.
    /// - Returns: false when the bounding set could not be changed: without CAP_SETPCAP (a process started
    ///   with exactly the kept capabilities) it is left as it is, since nothing more can be gained anyway.
    /// - Throws: `SystemCallError` naming the step that failed.
    @discardableResult
    public static func keepOnly(
        _ keep: UInt64, identity: (uid: UInt32, gid: UInt32)?, calls: CapabilityCalls = .system
    ) throws(SystemCallError) -> Bool {
        func kept(_ capability: UInt) -> Bool { keep & (1 << UInt64(capability)) != 0 }
        var boundingSetChanged = true
        // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
        for capability in 0..<capabilityLimit where !kept(capability) {
            // Already out (under systemd's CapabilityBoundingSet, say) or beyond the kernel's last capability.
            guard calls.prctl(PR_CAPBSET_READ, capability, 0).result == 1 else { continue }
            let drop = calls.prctl(PR_CAPBSET_DROP, capability, 0)
            guard drop.result != 0 else { continue }
            // Started with CAP_NET_ADMIN alone: nothing else can be gained anyway, leave the set as it is.
            guard drop.errno != EPERM else {
                boundingSetChanged = false
                break
            }
            throw SystemCallError(.boundingSetDrop, errno: drop.errno)
        }
        if let identity {
            try check(calls.prctl(PR_SET_KEEPCAPS, 1, 0), .keepCapabilities)
            try check(calls.clearGroups(), .setgroups)
            try check(calls.setgid(identity.gid), .setgid)
            try check(calls.setuid(identity.uid), .setuid)
        }
        try check(calls.capset(keep), .capset)
        // EINVAL: a kernel without ambient capabilities (before 4.3).
        try check(calls.prctl(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_CLEAR_ALL), 0), .ambientClear, tolerating: EINVAL)
        for capability in 0..<capabilityLimit where kept(capability) {
            try check(
                calls.prctl(PR_CAP_AMBIENT, UInt(PR_CAP_AMBIENT_RAISE), capability), .ambientRaise, tolerating: EINVAL)
        }
        // No core dumps and no ptrace by the unprivileged user the process now runs as.
        if identity != nil { _ = calls.prctl(PR_SET_DUMPABLE, 0, 0) }
        return boundingSetChanged
    }

    /// Throws `call`'s error when `outcome` failed with anything but `tolerated`.
    private static func check(
        _ outcome: CapabilityCalls.Outcome, _ call: SystemCall, tolerating tolerated: Int32? = nil
    ) throws(SystemCallError) {
        guard outcome.result != 0, outcome.errno != tolerated else { return }
        throw SystemCallError(call, errno: outcome.errno)
    }
}
