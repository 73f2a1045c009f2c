import ArgumentParser
import Foundation
import MSSCapture
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

        @Option(help: "MSS ceiling for IPv4 SYNs (88-65495).")
        var mss: Int

        @Option(help: "MSS ceiling for IPv6 SYNs (default: the IPv4 ceiling minus 20).")
        var mss6: Int?

        @Flag(help: "Do not insert an MSS option into SYNs that carry none.")
        var noInsert = false

        @Flag(help: "Print the summary as JSON.")
        var json = false

        @Argument(help: "Input capture (pcap or pcapng).")
        var input: String

        @Argument(help: "Output pcap file.")
        var output: String

        func validate() throws {
            guard validMSS.contains(mss) else { throw ValidationError("--mss must be within 88-65495, got \(mss)") }
            if let mss6, !validMSS.contains(mss6) {
                throw ValidationError("--mss6 must be within 88-65495, got \(mss6)")
            }
        }

        func run() throws {
            let ceiling4 = UInt16(mss)
            let ceiling6 = UInt16(mss6 ?? max(validMSS.lowerBound, mss - 20))
            let settings = RewriteSettings(insertMissing: !noInsert)
            let summary: CaptureSummary
            do {
                summary = try CaptureRewriter.rewrite(input: input, output: output) { buffer, length in
                    let outcome = MSSRewrite.rewrite(
                        buffer, length: &length, ceilingIPv4: ceiling4, ceilingIPv6: ceiling6, settings: settings)
                    return (outcome, nil)
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
