import Foundation
import MSSProcess

#if canImport(Glibc)
    import Glibc
#endif

/// The result of a finished command.
public struct CommandResult: Sendable {
    public var status: Int32
    public var output: String
    public var error: String
    public var succeeded: Bool { status == 0 }

    public init(status: Int32, output: String, error: String) {
        self.status = status
        self.output = output
        self.error = error
    }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public var command: [String]
    public var result: CommandResult

    public init(command: [String], result: CommandResult) {
        self.command = command
        self.result = result
    }
    public var description: String {
        "`\(command.joined(separator: " "))` exited \(result.status): \(result.error)\(result.output)"
    }
}

/// Runs programs for tests: real binaries, real kernels, no mocks.
public enum Shell {
    /// Runs `arguments` to completion and returns status and output. Kills it after `timeout` seconds.
    /// Through the project's own spawner, which neither hangs on a grandchild that keeps a pipe open nor
    /// dies of SIGPIPE.
    @discardableResult
    public static func run(_ arguments: [String], input: Data? = nil, timeout: TimeInterval = 60) throws
        -> CommandResult
    {
        do {
            let result = try ChildProcess.run(arguments, input: input.map { [UInt8]($0) }, timeout: timeout)
            return CommandResult(status: result.status, output: result.output, error: result.error)
        } catch {
            throw CommandFailed(command: arguments, result: CommandResult(status: -1, output: "", error: error.description))
        }
    }

    /// Runs `arguments` and throws unless it exits 0; returns its standard output.
    @discardableResult
    public static func check(_ arguments: [String], timeout: TimeInterval = 60) throws -> String {
        let result = try run(arguments, timeout: timeout)
        guard result.succeeded else { throw CommandFailed(command: arguments, result: result) }
        return result.output
    }

    /// True when `name` is an executable on PATH.
    public static func has(_ name: String) -> Bool {
        (try? run(["sh", "-c", "command -v \(name)"]).succeeded) ?? false
    }
}

/// A file in the temporary directory, removed when the value is released.
public final class TemporaryFile: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(suffix: String = "") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("mssclamp-test-\(UUID().uuidString)\(suffix)")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown)
        }
    }

    /// A path for a file that does not exist yet (removed with the value if it gets created).
    public init(unusedSuffix suffix: String) {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("mssclamp-test-\(UUID().uuidString)\(suffix)")
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A program running in the background (a server, tcpdump, the daemon), stopped when released.
public final class BackgroundProcess: @unchecked Sendable {
    public let child: BackgroundChild
    public let outputFile: TemporaryFile

    public init(_ arguments: [String]) throws {
        outputFile = try TemporaryFile(suffix: ".log")
        child = try BackgroundChild(arguments, outputPath: outputFile.path)
    }

    public var pid: Int32 { child.pid }
    public var isRunning: Bool { child.isRunning }
    public var output: String { (try? String(contentsOf: outputFile.url, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits up to `timeout` seconds for the exit; returns the exit status, or nil
    /// when it had to be killed.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 5) -> Int32? {
        if let status = child.exitStatus { return status }
        child.signal(signal)
        if let status = child.wait(seconds: timeout) { return status }
        child.signalGroup(SIGKILL)
        _ = child.wait(seconds: 5)
        return nil
    }

    /// Waits until `condition` holds on the output, up to `timeout` seconds.
    public func waitForOutput(timeout: TimeInterval = 10, _ condition: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(output) { return true }
            usleep(20_000)
        }
        return condition(output)
    }

    deinit {
        // Whatever it started goes too (a shell pipeline, a server's children).
        child.signalGroup(SIGKILL)
        _ = child.wait(seconds: 5)
    }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// Paths of the binaries this package builds, next to the test bundle in the build directory.
public enum BuiltProducts {
    public static var directory: URL {
        URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")
            .deletingLastPathComponent()
    }

    /// The `mssclamp` executable (the test targets depend on it, so it is built before they run).
    public static var mssclamp: String { directory.appendingPathComponent("mssclamp").path }

    /// A copy of `mssclamp` at `path`, mode 0755, for a hook run by another user. Copied by `cp`, not in
    /// this process: a file this process held open for writing would be inherited by whatever another
    /// test spawns at that moment, and every exec of the copy would then fail with ETXTBSY (OpenVPN's
    /// hook failing, so OpenVPN refusing to route its clients) for as long as that child lives.
    public static func copyMssclamp(to path: String) throws {
        try Shell.check(["cp", mssclamp, path])
        try Shell.check(["chmod", "0755", path])
    }
}
