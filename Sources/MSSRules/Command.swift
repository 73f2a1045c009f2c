import MSSProcess

/// A failure of the rule tooling, with what the operator needs to act on it.
public struct RuleError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// sysexits code: 69 when a tool or kernel feature is missing, 65 for bad input, 70 otherwise.
    public var exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 70) {
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String { message }
}

/// Runs the firewall tools (iptables-restore, iptables-save, nft) with input on stdin, through
/// `ChildProcess`: no call can hang past its timeout or end the caller with SIGPIPE.
public enum ToolRunner {
    public typealias Result = ChildResult

    /// Seconds a firewall tool gets before it is killed; a tool stuck on the xtables lock or a wedged
    /// netlink socket must not take the daemon with it.
    public static let defaultTimeout = 20.0

    /// Answers for the tools in the task that binds it (`ToolRunner.$standIn.withValue`): unit tests record
    /// the calls, in order, and play a tool that fails. nil, the real tools, everywhere else.
    @TaskLocal public static var standIn: (@Sendable (_ arguments: [String], _ input: String?) -> Result)?

    /// Runs `arguments[0]` found on PATH (or /usr/sbin, /sbin) with `input` on stdin.
    public static func run(_ arguments: [String], input: String? = nil, timeout: Double = defaultTimeout)
        throws(RuleError) -> Result
    {
        if let standIn { return standIn(arguments, input) }
        do {
            let result = try ChildProcess.run(arguments, input: input.map { Array($0.utf8) }, timeout: timeout)
            if result.status != 0 && result.inputCut && result.error.isEmpty {
                var annotated = result
                annotated.error = "\(arguments[0]) exited \(result.status) without reading all of its input"
                return annotated
            }
            return result
        } catch {
            switch error {
            case .notFound(let name):
                throw RuleError("\(name) is not installed (Debian package: \(package(for: name)))", exitCode: 69)
            case .timedOut:
                throw RuleError(error.description, exitCode: 69)
            case .spawn:
                throw RuleError(error.description, exitCode: 71)
            }
        }
    }

    static func package(for tool: String) -> String {
        tool.hasPrefix("nft") ? "nftables" : tool == "ipset" ? "ipset" : tool == "unshare" ? "util-linux" : "iptables"
    }
}
