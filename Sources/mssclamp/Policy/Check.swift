import ArgumentParser
import MSSPolicy

extension MSSClamp {
    /// `mssclamp check`: validates a policy file and prints its peers.
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
            print("  defaults      mss \(defaults), insert missing: \(configuration.insertMissing ? "yes" : "no")")
            for peer in configuration.peers {
                let conditions = peerConditions(
                    match: peer.match.map(\.description), inInterface: peer.inInterface,
                    outInterface: peer.outInterface, fwmark: peer.fwmark.map { "\($0)" })
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
}
