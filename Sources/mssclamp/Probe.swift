import ArgumentParser
import Foundation
import MSSPolicy
import MSSProbe

extension MSSClamp {
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find the path MTU to a host by bisection, and tell a PMTUD black hole from a router that speaks up.",
            discussion: """
                Sends ICMP echo requests that may not be fragmented (DF on IPv4, DONTFRAG on IPv6) and bisects \
                between --min and --max (sizes include the IP header). A "fragmentation needed" / "packet too \
                big" answer is reported with the MTU and the router that sent it; silence at sizes above the \
                path MTU is a PMTUD black hole. --hops walks the TTL at the first failing size to name the hop \
                where the path shrinks. Needs root (raw sockets). Exit 0 on a clean answer, 2 when a black hole \
                was detected, 69 when even --min gets no reply.
                """)

        @Argument(help: "The host to probe (a literal IPv4 or IPv6 address).")
        var host: String

        @Option(help: "Smallest size to try (bytes, IP header included).")
        var min: Int = 1200

        @Option(help: "Largest size to try.")
        var max: Int = 1500

        @Flag(help: "Walk the TTL at the failing size to find the hop where the path shrinks.")
        var hops = false

        @Option(help: "Seconds to wait for each answer.")
        var timeout: Double = 1.0

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            let sizes = ValueRange.linkMTU
            guard min >= sizes.lowerBound, max <= sizes.upperBound, min < max else {
                throw ValidationError("need \(sizes.lowerBound) <= --min < --max <= \(sizes.upperBound)")
            }
        }

        struct Output: Encodable {
            struct Step: Encodable { var size: Int; var answer: String; var router: String?; var mtu: Int? }
            var target: String
            var pathMTU: Int?
            var mss: Int?
            var blackHole: Bool
            var reports: [Step]
            var steps: [Step]
            var hops: [Step]
        }

        static func describe(_ answer: ProbeAnswer) -> (String, String?, Int?) {
            switch answer {
            case .reply: ("reply", nil, nil)
            case .tooBig(let router, let mtu): ("too big", router, mtu)
            case .timeExceeded(let router): ("time exceeded", router, nil)
            case .silence: ("silence", nil, nil)
            }
        }

        func run() throws {
            let probe: PathMTUProbe
            do {
                probe = try PathMTUProbe(target: host, timeout: timeout)
            } catch {
                throw fail(error.description, code: error.exitCode)
            }
            let result = probe.run(minimum: min, maximum: max, walkHops: hops)
            let exitCode: Int32 = result.pathMTU == nil ? 69 : result.blackHole ? 2 : 0
            if json {
                func step(_ size: Int, _ answer: ProbeAnswer) -> Output.Step {
                    let (text, router, mtu) = Self.describe(answer)
                    return Output.Step(size: size, answer: text, router: router, mtu: mtu)
                }
                try printJSON(
                    Output(
                        target: host, pathMTU: result.pathMTU, mss: result.mss, blackHole: result.blackHole,
                        reports: result.steps.filter { if case .tooBig = $0.answer { true } else { false } }.map { step($0.size, $0.answer) },
                        steps: result.steps.map { step($0.size, $0.answer) }, hops: result.hops.map { step($0.ttl, $0.answer) }))
                if exitCode != 0 { throw ExitCode(exitCode) }
                return
            }
            print("probing \(host) between \(min) and \(max) bytes (\(result.ipv6 ? "IPv6, DONTFRAG" : "IPv4, DF set"))")
            for step in result.steps {
                let (text, router, mtu) = Self.describe(step.answer)
                print("  \(String(step.size).padding(toLength: 6, withPad: " ", startingAt: 0)) \(text)\(router.map { " from \($0)" } ?? "")\(mtu.map { ", MTU \($0)" } ?? "")")
            }
            guard let pathMTU = result.pathMTU else {
                throw fail("no reply even at \(min) bytes: is \(host) reachable and answering pings?", code: 69)
            }
            for report in Dictionary(grouping: result.reports, by: { "\($0.router) \($0.mtu)" }).values.compactMap(\.first) {
                print("router \(report.router) says the next hop MTU is \(report.mtu) (\(result.ipv6 ? "packet too big" : "fragmentation needed"))")
            }
            if result.blackHole {
                print("PMTUD BLACK HOLE: packets above \(pathMTU) bytes vanish without an ICMP \(result.ipv6 ? "packet too big" : "fragmentation needed")")
            }
            if !result.hops.isEmpty {
                print("TTL walk at \(pathMTU + 1) bytes:")
                for hop in result.hops {
                    let (text, router, mtu) = Self.describe(hop.answer)
                    print("  hop \(hop.ttl): \(text)\(router.map { " from \($0)" } ?? "")\(mtu.map { ", MTU \($0)" } ?? "")")
                }
                if let last = result.hops.last, last.answer == .silence {
                    let before = result.hops.dropLast().last.flatMap { Self.describe($0.answer).1 } ?? "this host"
                    print("the path shrinks after hop \(last.ttl - 1) (\(before)): hop \(last.ttl) never sees \(pathMTU + 1)-byte packets")
                }
            }
            print("path MTU \(pathMTU)\(pathMTU == max ? " (or more: --max passed)" : ""); recommended MSS \(result.mss!) (mssclamp calc --measured-icmp \(OverheadCalculator.pingPayload(forPathMTU: pathMTU, ipv6: result.ipv6))\(result.ipv6 ? " --ipv6" : ""))")
            if exitCode != 0 { throw ExitCode(exitCode) }
        }
    }
}
