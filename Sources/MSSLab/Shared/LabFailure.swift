/// Why `mssclamp bench` or `mssclamp lab` stopped: the environment cannot host it, a tool failed, or the
/// operator interrupted it. Whatever was built is torn down before this reaches the command.
public struct LabFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Not root, no `ip netns`, no veth: nothing was built.
        case unavailable
        /// A step of the run failed.
        case failed
        /// SIGINT, SIGTERM or SIGHUP (the signal's number).
        case interrupted(Int32)
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

extension LabFailure.Kind {
    public var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }
}
