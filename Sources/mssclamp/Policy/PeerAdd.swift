import ArgumentParser
import Foundation
import MSSControl

extension MSSClamp.Peer {
    /// `mssclamp peer add`: adds a live peer to the running daemon.
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a live peer.")

        @Argument(help: "The peer's name.") var name: String

        @Option(help: "Prefixes, comma-separated: a packet whose source or destination is inside one belongs to the peer.") var match: String?

        @Option(help: "MSS ceiling, or 'none' for no clamp.") var mss: String?

        @Option(help: "IPv6 MSS ceiling (default: --mss minus 20).") var mss6: Int?

        @Option(help: "Derive the ceiling from this link MTU and --encap.") var linkMTU: Int?

        @Option(help: "Encapsulations, comma-separated (see `mssclamp calc --help`).") var encap: String?

        @Option(help: "ESP cipher for --encap.") var cipher: String?

        @Option(help: "ESP integrity algorithm for --encap.") var integrity: String?

        @Option(help: "Only packets that came in on this interface.") var inInterface: String?

        @Option(help: "Only packets that leave on this interface.") var outInterface: String?

        @Option(help: "Only packets with this mark (VALUE or VALUE/MASK).") var fwmark: String?

        @Flag(help: "Replace a live peer of the same name.") var replace = false

        @OptionGroup var socket: ControlSocketOption

        func run() throws {
            var fields = LivePeerFields(name: name)
            fields.match = match.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            fields.mss = mss
            fields.mss6 = mss6
            fields.linkMTU = linkMTU
            fields.encap = encap.map { $0.split(separator: ",").map(String.init) }
            fields.cipher = cipher
            fields.integrity = integrity
            fields.inInterface = inInterface
            fields.outInterface = outInterface
            fields.fwmark = fwmark
            // Validate here too, so a typo is reported without a daemon.
            do { _ = try fields.definition() } catch { throw fail(error.description, code: 65) }
            let response = try socket.send(ControlRequest(command: .peerAdd, peer: fields, replace: replace))
            print(response.message ?? "ok")
        }
    }
}
