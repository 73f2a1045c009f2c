import ArgumentParser
import Foundation
import MSSControl
import MSSPolicy
import MSSQueue

/// `--socket PATH` (or `--instance NAME`) and `--timeout` for the commands that talk to a running daemon.
struct ControlSocketOption: ParsableArguments {
    @Option(name: .customLong("socket"), help: "The daemon's control socket (default: the --instance's, else \(PolicyConfiguration.defaultControlSocket), else the only control socket in /run/mssclamp).")
    var socket: String?

    @Option(help: "Talk to this instance (its socket is /run/mssclamp/control-NAME.sock; instance 0 has control.sock).")
    var instance: String?

    func validate() throws {
        if let instance, Instance(name: instance) == nil {
            throw ValidationError("--instance takes 1-10 of letters, digits, _ and -, got '\(instance)'")
        }
        if socket != nil && instance != nil { throw ValidationError("give either --socket or --instance, not both") }
    }

    /// The socket to talk to. Without --socket or --instance: the primary instance's, or, when it has
    /// none, the only instance's socket there is (with several, the user must say which).
    var path: String {
        get throws {
            if let socket { return socket }
            if let instance, let named = Instance(name: instance) { return named.controlSocket }
            let primary = PolicyConfiguration.defaultControlSocket
            if access(primary, F_OK) == 0 { return primary }
            let directory = (primary as NSString).deletingLastPathComponent
            let others = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasPrefix("control-") && $0.hasSuffix(".sock") }.sorted()
            if others.count == 1 { return directory + "/" + others[0] }
            if others.count > 1 {
                let names = others.map { String($0.dropFirst("control-".count).dropLast(".sock".count)) }
                throw fail("several instances run (\(names.joined(separator: ", "))); pick one with --instance", code: 64)
            }
            return primary
        }
    }

    @Option(help: "Seconds to wait for the daemon's answer (default: 10; reload: 120).")
    var timeout: Double?

    func send(_ request: ControlRequest, defaultTimeout: Double = 10) throws -> ControlResponse {
        let response: ControlResponse
        let path = try self.path
        do {
            response = try ControlClient.send(request, to: path, timeout: timeout ?? defaultTimeout)
        } catch {
            var stderr = StandardError()
            print("mssclamp: error: \(error.description)", to: &stderr)
            // A stopped or stuck daemon cannot answer, but the kernel can say what waits in its queues.
            let queues = KernelQueueStatus.read()
            if error.exitCode == 69, !queues.isEmpty {
                for queue in queues {
                    print("  kernel queue \(queue.queue): waiting \(queue.waiting), queue_dropped \(queue.queueDropped), user_dropped \(queue.userDropped)", to: &stderr)
                }
            }
            throw ExitCode(error.exitCode)
        }
        guard response.ok else { throw fail(response.error ?? "the daemon refused the request", code: 65) }
        return response
    }
}
