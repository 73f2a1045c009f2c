import Foundation

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

/// Runs the firewall tools (iptables-restore, iptables-save, nft) with input on stdin.
public enum ToolRunner {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var error: String
    }

    /// Runs `arguments[0]` found on PATH (or /usr/sbin, /sbin) with `input` on stdin.
    public static func run(_ arguments: [String], input: String? = nil) throws(RuleError) -> Result {
        guard let executable = locate(arguments[0]) else {
            throw RuleError("\(arguments[0]) is not installed (Debian package: \(package(for: arguments[0])))", exitCode: 69)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        do {
            try process.run()
        } catch {
            throw RuleError("cannot run \(executable): \(error)")
        }
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        // Read both pipes before waiting, so a large iptables-save cannot fill a pipe and block.
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let error = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
            error: String(decoding: error, as: UTF8.self))
    }

    static func locate(_ name: String) -> String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin"] {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func package(for tool: String) -> String { tool.hasPrefix("nft") ? "nftables" : "iptables" }
}
