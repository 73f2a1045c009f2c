import ArgumentParser
import MSSControl
import MSSPolicy

extension MSSClamp {
    /// `mssclamp explain ADDRESS`: where the ceiling of an address comes from.
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say which peer holds an address and how its ceiling was reached (given, measured, or computed from an IPsec SA's proposal).")

        @Argument(help: "An IPv4 or IPv6 address (a client's, a tunnel's).")
        var address: String

        @Flag(help: "Print JSON.")
        var json = false

        @OptionGroup var socket: ControlSocketOption

        func run() throws {
            var request = ControlRequest(command: .explain)
            request.address = address
            let response = try socket.send(request)
            guard let explanation = response.explanation else { throw fail("the daemon gave no explanation", code: 70) }
            if json {
                try printJSON(explanation)
                return
            }
            print("\(explanation.address): mss \(Ceilings(ipv4: explanation.mss4, ipv6: explanation.mss6)) (policy version \(response.policyVersion ?? 0))")
            for step in explanation.steps { print("  " + step) }
        }
    }
}
