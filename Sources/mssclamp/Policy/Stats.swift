import ArgumentParser
import MSSControl

extension MSSClamp {
    /// `mssclamp stats`: the running daemon's counters.
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the running daemon's counters.")

        @Flag(help: "Print JSON.")
        var json = false

        @OptionGroup var socket: ControlSocketOption

        func run() throws {
            let response = try socket.send(ControlRequest(command: .stats))
            if json {
                try printJSON(response.statistics ?? Statistics())
            } else {
                print(response.message ?? "")
            }
        }
    }
}
