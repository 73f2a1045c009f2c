import ArgumentParser
import Foundation
import MSSControl
import MSSPolicy

extension MSSClamp.Peer {
    /// `mssclamp peer list`: the peers in force, with their counters.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the peers in force, with their counters.")

        @Flag(help: "Print JSON.")
        var json = false

        @OptionGroup var socket: ControlSocketOption

        /// Every peer, asked for page by page; starts over (up to three times) when the policy changes
        /// between pages, so the list is one version's.
        func fetch() throws -> (peers: [PeerReport], last: ControlResponse) {
            for _ in 0..<3 {
                var peers: [PeerReport] = []
                var version: UInt64?
                var consistent = true
                while true {
                    var request = ControlRequest(command: .peerList)
                    request.offset = peers.count
                    request.limit = 1000
                    let response = try socket.send(request)
                    if let version, response.policyVersion != version {
                        consistent = false
                        break
                    }
                    version = response.policyVersion
                    let page = response.peers ?? []
                    peers += page
                    if page.isEmpty || peers.count >= (response.total ?? peers.count) { return (peers, response) }
                }
                if consistent { break }
            }
            throw fail("the policy kept changing while the peers were listed; try again", code: 75)
        }

        func run() throws {
            let (peers, response) = try fetch()
            if json {
                try printJSON(peers)
                return
            }
            let defaults = response.defaults.map(\.description) ?? "?"
            print("policy version \(response.policyVersion ?? 0), defaults mss \(defaults)")
            guard !peers.isEmpty else {
                print("no peers")
                return
            }
            // Columns as wide as their widest entry (sourced peers have long names and origins).
            let nameWidth = peers.map(\.name.count).max().map { max($0 + 2, 20) } ?? 20
            let originWidth = peers.map(\.origin.count).max().map { max($0 + 2, 28) } ?? 28
            func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0) }
            print(pad("NAME", nameWidth) + pad("ORIGIN", originWidth) + pad("CEILING", 14) + pad("SEEN", 10) + pad("CLAMPED", 10) + "MATCH")
            for peer in peers {
                let ceiling = Ceilings(ipv4: peer.mss4, ipv6: peer.mss6).description
                let conditions = peerConditions(
                    match: peer.match, inInterface: peer.inInterface, outInterface: peer.outInterface,
                    fwmark: peer.fwmark)
                print(
                    pad(peer.name, nameWidth) + pad(peer.origin, originWidth) + pad(ceiling, 14) + pad(String(peer.counters.seen), 10)
                        + pad(String(peer.counters[.clamped]), 10) + conditions.joined(separator: ", "))
            }
        }
    }
}
