import ArgumentParser
import Foundation
import MSSPolicy
import MSSWire

extension MSSClamp {
    struct Calc: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compute the tunnel MTU and MSS for a link MTU and an encapsulation stack.",
            discussion: """
                PPPoE and MPLS are always the link framing and NAT-T always sits right outside ESP, wherever \
                they are listed; tunnel layers apply in the listed order, inner to outer (gre,ipsec-esp-tunnel: \
                GRE inside ESP). Known layers: \(Encapsulation.names.joined(separator: ", ")). \
                Padding is counted at its worst case. With --measured-icmp, turns the largest ping payload that \
                crossed the path with DF set into the path MTU and MSS instead. See docs/overhead.md.
                """)

        @Option(help: "The link MTU the tunnel runs over.") var mtu: Int = 1500

        @Option(help: "Encapsulations, comma-separated, inner to outer.") var encap: String?

        @Option(help: "ESP or OpenVPN cipher (\(ESPCipher.allCases.map(\.rawValue).joined(separator: ", "))).") var cipher: String?

        @Option(help: "ESP integrity algorithm (\(ESPIntegrity.allCases.map(\.rawValue).joined(separator: ", "))).") var integrity: String?

        @Option(help: "The tunnel interface's MTU, when known (WireGuard pads to 16 only up to it; without it the worst case is assumed).") var tunnelMTU: Int?

        @Option(help: "Inner families to print: ipv4, ipv6 or both.") var inner: String = "both"

        @Option(help: "The largest ICMP echo payload that passed with DF set (ping -M do -s SIZE).") var measuredICMP: Int?

        @Flag(help: "The measured ping was over IPv6.") var ipv6 = false

        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard ["ipv4", "ipv6", "both"].contains(inner) else { throw ValidationError("--inner takes ipv4, ipv6 or both") }
            guard measuredICMP != nil || encap != nil else { throw ValidationError("give --encap LAYERS or --measured-icmp SIZE") }
            if let tunnelMTU, !ValueRange.linkMTU.contains(tunnelMTU) {
                throw ValidationError("--tunnel-mtu must be \(ValueRange.linkMTU.within)")
            }
        }

        struct Output: Encodable {
            var linkMTU: Int?
            var encapsulation: [String]?
            var cipher: String?
            var integrity: String?
            var layers: [Layer]?
            var mtu4: Int?
            var mtu6: Int?
            var mss4: Int?
            var mss6: Int?
            var measuredICMPPayload: Int?
            var pathMTU: Int?
            var policy: String
        }

        struct Layer: Encodable {
            var name: String
            var bytes: Int
            var source: String
        }

        func run() throws {
            if let measuredICMP {
                let (pathMTU, mss) = OverheadCalculator.fromPingPayload(measuredICMP, ipv6: ipv6)
                let header = (ipv6 ? IPFamily.ipv6 : .ipv4).ipHeaderBytes
                let policy = ipv6 ? "mss6 = \(mss)" : "mss = \(mss)"
                if json {
                    try printJSON(Output(mss4: ipv6 ? nil : mss, mss6: ipv6 ? mss : nil, measuredICMPPayload: measuredICMP, pathMTU: pathMTU, policy: policy))
                    return
                }
                print("largest DF ping payload \(measuredICMP) + ICMP header 8 + IP header \(header) = path MTU \(pathMTU)")
                print("MSS = \(pathMTU) - \(header) (IP) - 20 (TCP) = \(mss)   (payload - \(measuredICMP - mss))")
                print("policy: \(policy)")
                return
            }
            let names = encap!.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let result: OverheadResult
            do {
                result = try OverheadCalculator.compute(linkMTU: mtu, names: names, cipher: cipher, integrity: integrity, tunnelMTU: tunnelMTU)
            } catch {
                throw fail(error.description, code: 65)
            }
            var policyLine = "link_mtu = \(mtu)\nencap = [" + names.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
            if let cipher { policyLine += "\ncipher = \"\(cipher)\"" }
            if let integrity { policyLine += "\nintegrity = \"\(integrity)\"" }
            policyLine += "\n# or: mss = \(result.mss4)" + (result.mss6 != Int(Ceilings.ipv6Default(forIPv4: UInt16(clamping: result.mss4))) ? "\n#     mss6 = \(result.mss6)" : "")
            if json {
                try printJSON(
                    Output(
                        linkMTU: mtu, encapsulation: names, cipher: cipher, integrity: integrity,
                        layers: result.layers.map { Layer(name: $0.name, bytes: $0.bytes, source: $0.source) },
                        mtu4: inner != "ipv6" ? result.mtu4 : nil, mtu6: inner != "ipv4" ? result.mtu6 : nil,
                        mss4: inner != "ipv6" ? result.mss4 : nil, mss6: inner != "ipv4" ? result.mss6 : nil,
                        policy: policyLine))
                return
            }
            func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }
            func right(_ value: Int) -> String { let t = String(value); return String(repeating: " ", count: max(0, 6 - t.count)) + t }
            print("link MTU \(mtu), \(names.joined(separator: " over "))\(cipher.map { ", \($0)" } ?? "")\(integrity.map { ", \($0)" } ?? "")")
            print(pad("  layer (outermost first)", 52) + " bytes  source")
            for layer in result.layers {
                print(pad("  " + layer.name, 52) + right(layer.bytes) + "  " + layer.source)
            }
            print(pad("  total overhead (IPv4 inner)", 52) + right(mtu - result.mtu4))
            if inner != "ipv6" { print("IPv4: tunnel MTU \(result.mtu4), MSS \(result.mss4)") }
            if inner != "ipv4" { print("IPv6: tunnel MTU \(result.mtu6), MSS \(result.mss6)") }
            print("policy ([[peer]]):")
            for line in policyLine.split(separator: "\n") { print("  " + line) }
        }
    }
}
