#if canImport(Glibc)
    import Glibc
#endif

/// Who may do what on the control socket. Full control (peer changes, reload, save, stats) is root's
/// alone: never the daemon's own uid, which after `--user` is an account other processes share. Members
/// of `[control] group` (by primary or supplementary group) may send `learn` requests, bounded by each
/// template's `learn_within` and `learn_max`. Everyone else is refused.
enum ControlRole: Sendable, Equatable {
    case root
    case learner
    case none

    init(_ client: ClientCredentials, group: gid_t?) {
        if client.uid == 0 {
            self = .root
        } else if let group, client.gid == group || client.groups.contains(group) {
            self = .learner
        } else {
            self = .none
        }
    }

    /// Why this role may not send `command`, or nil when it may.
    func refusal(_ command: ControlRequest.Command) -> String? {
        switch self {
        case .root: nil
        case .learner: command == .learn ? nil : "the control group may send learn-address requests only"
        case .none: "the control socket is root-only (and open to the [control] group for learn-address)"
        }
    }
}

/// SO_PEERGROUPS (Linux 4.13): the supplementary groups of a Unix socket's peer when it connected.
/// The value is asm-generic's; Glibc's headers do not always carry it.
private let peerGroupsOption: Int32 = 59

/// The peer's supplementary groups (empty when the kernel cannot say).
func peerGroups(_ fd: Int32) -> [UInt32] {
    var groups = [gid_t](repeating: 0, count: 64)
    for _ in 0..<2 {
        var length = socklen_t(groups.count * MemoryLayout<gid_t>.size)
        let result = groups.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, peerGroupsOption, $0.baseAddress, &length) }
        if result == 0 { return Array(groups.prefix(Int(length) / MemoryLayout<gid_t>.size)) }
        // ERANGE: the length says how much room the list needs.
        guard errno == ERANGE, Int(length) / MemoryLayout<gid_t>.size <= 65_536 else { return [] }
        groups = [gid_t](repeating: 0, count: Int(length) / MemoryLayout<gid_t>.size)
    }
    return []
}
