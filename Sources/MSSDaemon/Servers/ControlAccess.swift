import MSSControl

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
