import ArgumentParser
import MSSControl

extension MSSClamp {
    /// `mssclamp reload`: rereads the daemon's policy file, as SIGHUP does.
    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reread the running daemon's policy file (as SIGHUP does), and print the result.",
            discussion: """
                A file that would take away every peer, or an empty one (a truncated write), is refused unless \
                --allow-empty says it is meant. Keys that only a restart can change are named.
                """)

        @Flag(help: "Accept a file without peers (or an empty one) although the running policy has some.")
        var allowEmpty = false

        @OptionGroup var socket: ControlSocketOption

        func run() throws {
            var request = ControlRequest(command: .reload)
            request.allowEmpty = allowEmpty
            print(try socket.send(request, defaultTimeout: 120).message ?? "ok")
        }
    }
}
