import ArgumentParser
import MSSControl

extension MSSClamp.Peer {
    /// `mssclamp peer save`: appends the live peers to the policy file.
    struct Save: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append the live peers to the policy file the daemon runs with.")

        @OptionGroup var socket: ControlSocketOption

        func run() throws {
            print(try socket.send(ControlRequest(command: .peerSave)).message ?? "ok")
        }
    }
}
