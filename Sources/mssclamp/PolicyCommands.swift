import MSSQueue
import ArgumentParser
import Foundation
import MSSDaemon
import MSSPolicy

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

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

extension MSSClamp {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy file.",
            discussion: """
                Prints every problem with file, line and key and exits 65, or prints the peers with their \
                ceilings and exits 0.
                """)

        @Option(name: .customLong("config"), help: "The policy file.")
        var configPath: String

        func run() throws {
            let configuration: PolicyConfiguration
            do {
                configuration = try PolicyConfiguration.load(path: configPath)
            } catch {
                throw fail(error.description, code: 65)
            }
            let snapshot: PolicySnapshot
            do {
                snapshot = try PolicySnapshot(version: 1, configuration: configuration)
            } catch {
                throw fail(error.description, code: 65)
            }
            let defaults = configuration.defaults
            print("\(configPath): ok")
            print("  defaults      mss4 \(defaults.ipv4.map(String.init) ?? "none"), mss6 \(defaults.ipv6.map(String.init) ?? "none"), insert missing: \(configuration.insertMissing ? "yes" : "no")")
            for peer in configuration.peers {
                var conditions = peer.match.map(\.description)
                if let name = peer.inInterface { conditions.append("in \(name)") }
                if let name = peer.outInterface { conditions.append("out \(name)") }
                if let mark = peer.fwmark { conditions.append("mark \(mark)") }
                print("  peer \(peer.name): \(peer.ceiling.summary); matches \(conditions.joined(separator: ", "))")
            }
            for template in configuration.templates {
                print("  peer \(template.name): template, \(template.summary); one peer per \(template.source == .learnAddress ? "learned address" : "WireGuard peer")")
            }
            if let group = configuration.controlGroup {
                print("  control group \(group): may send learn-address requests (socket 0660)")
            }
            for name in snapshot.missingInterfaces {
                print("  note: interface \(name) does not exist here now; its peers match nothing until it does")
            }
        }
    }

    struct Peer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the running daemon's peers through its control socket.",
            discussion: """
                Live peers apply from the next batch of packets, without a restart. They are kept apart from \
                the policy file: a reload (SIGHUP) keeps them, a restart forgets them, and `peer save` \
                appends them to the file.
                """,
            subcommands: [Add.self, Remove.self, List.self, Save.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a live peer.")

            @Argument(help: "The peer's name.")
            var name: String

            @Option(help: "Prefixes, comma-separated: a packet whose source or destination is inside one belongs to the peer.")
            var match: String?

            @Option(help: "MSS ceiling, or 'none' for no clamp.")
            var mss: String?

            @Option(help: "IPv6 MSS ceiling (default: --mss minus 20).")
            var mss6: Int?

            @Option(help: "Derive the ceiling from this link MTU and --encap.")
            var linkMTU: Int?

            @Option(help: "Encapsulations, comma-separated (see `mssclamp calc --help`).")
            var encap: String?

            @Option(help: "ESP cipher for --encap.")
            var cipher: String?

            @Option(help: "ESP integrity algorithm for --encap.")
            var integrity: String?

            @Option(help: "Only packets that came in on this interface.")
            var inInterface: String?

            @Option(help: "Only packets that leave on this interface.")
            var outInterface: String?

            @Option(help: "Only packets with this mark (VALUE or VALUE/MASK).")
            var fwmark: String?

            @Flag(help: "Replace a live peer of the same name.")
            var replace = false

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

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove a live peer.")

            @Argument(help: "The peer's name.")
            var name: String

            @OptionGroup var socket: ControlSocketOption

            func run() throws {
                print(try socket.send(ControlRequest(command: .peerRemove, name: name)).message ?? "ok")
            }
        }

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
                let defaults = response.defaults.map { "\($0.ipv4.map(String.init) ?? "none")/\($0.ipv6.map(String.init) ?? "none")" } ?? "?"
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
                    let ceiling = "\(peer.mss4.map(String.init) ?? "none")/\(peer.mss6.map(String.init) ?? "none")"
                    var conditions = peer.match
                    if let name = peer.inInterface { conditions.append("in \(name)") }
                    if let name = peer.outInterface { conditions.append("out \(name)") }
                    if let mark = peer.fwmark { conditions.append("mark \(mark)") }
                    print(
                        pad(peer.name, nameWidth) + pad(peer.origin, originWidth) + pad(ceiling, 14) + pad(String(peer.counters.seen), 10)
                            + pad(String(peer.counters[.clamped]), 10) + conditions.joined(separator: ", "))
                }
            }
        }

        struct Save: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Append the live peers to the policy file the daemon runs with.")

            @OptionGroup var socket: ControlSocketOption

            func run() throws {
                print(try socket.send(ControlRequest(command: .peerSave)).message ?? "ok")
            }
        }
    }

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
