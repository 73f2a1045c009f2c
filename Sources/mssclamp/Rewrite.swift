import ArgumentParser
import Foundation
import MSSCapture
import MSSPolicy
import MSSWire

extension MSSClamp {
    struct Rewrite: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rewrite a capture offline with the same engine the daemon uses.",
            discussion: """
                Reads pcap or pcapng (Ethernet, raw IP, Linux cooked v1/v2), writes a pcap with every packet, \
                MSS clamped where the engine says so, and prints packets per outcome. The output file appears \
                only when the whole capture was processed.
                """)

        @OptionGroup var ceilings: CeilingOptions

        @Flag(help: "Print the summary as JSON.")
        var json = false

        @Argument(help: "Input capture (pcap or pcapng).")
        var input: String

        @Argument(help: "Output pcap file.")
        var output: String

        func validate() throws {
            if !ceilings.hasPolicy { throw ValidationError("give --config FILE or --mss N") }
        }

        func run() throws {
            var overrides = PolicyOverrides()
            ceilings.addOverrides(to: &overrides)
            let policy = try compile(overrides.applied(to: try ceilings.configuration()))
            let names = policy.peerNames
            let summary: CaptureSummary
            do throws(CaptureError) {
                summary = try CaptureRewriter.rewrite(input: input, output: output) { buffer, length in
                    // Offline there are no interfaces or marks: peers that need them do not match.
                    let (outcome, peer, _) = ClampEngine.process(
                        buffer, length: &length, metadata: PacketMetadata(), policy: policy)
                    let kind = outcome.kind
                    guard !names.isEmpty, kind != .notTCP, kind != .notSYN, kind != .fragment else { return (outcome, nil) }
                    return (outcome, peer >= 0 ? names[peer] : PolicySnapshot.defaultPeerName)
                }
            } catch {
                throw fail(error.description, code: error.exitCode)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            } else {
                print(summary.rendered())
            }
        }
    }
}
