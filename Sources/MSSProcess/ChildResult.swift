#if canImport(Glibc)
    import Glibc
#endif

/// How a child process ended.
public struct ChildResult: Sendable, Hashable {
    /// The exit status, or 128 + the signal number when a signal ended it.
    public var status: Int32
    public var output: String
    public var error: String
    /// The child closed its input before reading all of it (EPIPE while writing): not an error by itself,
    /// since some tools read only what they need, but worth reporting when the status is not 0.
    public var inputCut: Bool

    public init(status: Int32, output: String, error: String, inputCut: Bool = false) {
        self.status = status
        self.output = output
        self.error = error
        self.inputCut = inputCut
    }
}

/// Why a child could not be run to the end.
public enum ChildFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The executable is not on PATH (nor in /usr/sbin, /sbin, /usr/bin, /bin).
    case notFound(String)
    /// A system call failed before the child ran (pipe, socketpair, posix_spawn).
    case spawn(String, call: String, errno: Int32)
    /// The child did not finish within the deadline and was killed.
    case timedOut(String, seconds: Double, error: String)

    public var description: String {
        switch self {
        case .notFound(let name):
            return "\(name) is not installed"
        case .spawn(let name, let call, let code):
            return "cannot run \(name): \(call): \(String(cString: strerror(code)))"
        case .timedOut(let name, let seconds, let error):
            let trimmed = error.split(separator: "\n").last.map(String.init) ?? ""
            return "\(name) did not finish within \(Self.format(seconds)) s and was killed"
                + (trimmed.isEmpty ? "" : " (last output: \(trimmed))")
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
