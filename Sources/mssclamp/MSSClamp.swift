import ArgumentParser
import MSSControl
import MSSSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The process: SIGPIPE is ignored before anything runs, so a client, a tool or a stdout reader that
/// goes away turns a write into EPIPE instead of ending the daemon (exit 141, no log line).
@main
enum Entry {
    static func main() {
        ProcessSignals.ignoreBrokenPipes()
        if let status = MSSClamp.LearnAddress.fastPath(CommandLine.arguments) { exit(status) }
        MSSClamp.main()
    }
}

struct MSSClamp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mssclamp",
        abstract: "Userspace TCP MSS clamping for Linux VPN servers and routers.",
        discussion: """
            Exit codes: 0 ok, 1 `rules verify` found differences, 2 `probe` found a PMTUD black hole, \
            64 usage, 65 bad data or config, 66 input missing, 67 no such --user, 69 unavailable (no root, \
            no kernel support, queue taken, no daemon), 70 internal, 71 system error, 73 cannot write \
            output, 75 try again (the policy changed while `peer list` paged it), 77 permission denied (the \
            control socket is root-only).
            """,
        version: MSSClampVersion.text,
        subcommands: [Run.self, Rewrite.self, Rules.self, Check.self, Peer.self, Stats.self, Explain.self, Reload.self, Calc.self, Probe.self, LearnAddress.self, Bench.self, Lab.self])
}

/// Prints an error the way every subcommand does, and returns the exit code to throw.
func fail(_ message: String, code: Int32) -> ExitCode {
    var stderr = StandardError()
    print("mssclamp: error: \(message)", to: &stderr)
    return ExitCode(code)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = Glibc.write(2, &bytes, bytes.count)
    }
}
