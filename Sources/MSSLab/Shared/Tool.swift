import MSSProcess

/// The programs a bench run starts (`ip`, `iptables`, `nft`, mssclamp itself), through MSSProcess.
enum Tool {
    /// Runs `arguments`; its output, or a failure naming the command and what it printed.
    @discardableResult
    static func run(_ arguments: [String], timeout: Double = 30) throws(LabFailure) -> String {
        let result: ChildResult
        do {
            result = try ChildProcess.run(arguments, timeout: timeout)
        } catch {
            throw LabFailure(.failed, "\(arguments.joined(separator: " ")): \(error)")
        }
        guard result.status == 0 else {
            let said = (result.error.isEmpty ? result.output : result.error).trimmingTrailingNewlines
            throw LabFailure(.failed, "\(arguments.joined(separator: " ")) exited \(result.status): \(said)")
        }
        return result.output
    }

    /// Runs `arguments` and ignores how it ends (teardown: what is already gone is fine).
    static func attempt(_ arguments: [String], timeout: Double = 30) {
        _ = try? ChildProcess.run(arguments, timeout: timeout)
    }

    /// `arguments` run inside the network namespace `namespace`.
    static func inside(_ namespace: String, _ arguments: [String]) -> [String] {
        ["ip", "netns", "exec", namespace] + arguments
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var text = self
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }
}
