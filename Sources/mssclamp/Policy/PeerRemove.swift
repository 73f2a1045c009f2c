import ArgumentParser
import MSSControl

extension MSSClamp.Peer {
    /// `mssclamp peer remove`: removes a live peer.
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a live peer.")

        @Argument(help: "The peer's name.")
        var name: String

        @OptionGroup var socket: ControlSocketOption

        func run() throws {
            print(try socket.send(ControlRequest(command: .peerRemove, name: name)).message ?? "ok")
        }
    }
}
