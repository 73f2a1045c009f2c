import ArgumentParser
import Foundation
import MSSLab
import MSSPolicy
import MSSSystem
import MSSWire

extension MSSClamp {
    struct Lab: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A PMTUD black hole in four network namespaces, and the stall-then-fix demo in it.",
            discussion: """
                client -- gateway == middle -- server: the gateway-middle link is narrow (--link-mtu, or what \
                a tunnel leaves of it: --encap), and the middle router drops ICMP "fragmentation needed" and \
                "packet too big", so Path MTU Discovery fails and full-size segments vanish. `lab demo` shows \
                a 2 MB download stalling without mssclamp and completing with it, for IPv4 and IPv6; `lab up` \
                leaves the lab for your own tests (run mssclamp on NAME-gw), `lab down` removes it. Needs root. \
                See docs/lab.md.
                """,
            subcommands: [Up.self, Down.self, Demo.self])
    }
}

/// The narrow link, as the lab commands take it.
struct LabPath: ParsableArguments {
    @Option(help: "The MTU of the link between the gateway and the middle router.")
    var linkMTU: Int = 1400

    @Option(help: "Shape the path like a tunnel over --link-mtu: encapsulations, comma-separated, inner to outer, as `mssclamp calc` takes them (the narrow link gets what the tunnel leaves).")
    var encap: String?

    @Option(help: "With --encap: the ESP or OpenVPN cipher.")
    var cipher: String?

    @Option(help: "With --encap: the ESP integrity algorithm.")
    var integrity: String?

    func validate() throws {
        guard (1280...9000).contains(linkMTU) else { throw ValidationError("--link-mtu must be 1280-9000 (IPv6 needs 1280)") }
        _ = try narrowMTU()
    }

    /// The narrow link's MTU: --link-mtu, or what --encap leaves of it (the smaller of the two inner
    /// families' MTUs), never below IPv6's 1280.
    func narrowMTU() throws -> Int {
        guard let encap else { return linkMTU }
        do {
            let result = try OverheadCalculator.compute(
                linkMTU: linkMTU, names: encap.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
                cipher: cipher, integrity: integrity)
            let mtu = min(result.mtu4, result.mtu6)
            guard mtu >= IPFamily.ipv6.guaranteedMTU else {
                throw ValidationError("--encap \(encap) leaves \(mtu) bytes of \(linkMTU): below IPv6's 1280")
            }
            return mtu
        } catch let error as OverheadError {
            throw ValidationError("--encap: \(error)")
        }
    }
}

/// The name every lab command shares.
struct LabName: ParsableArguments {
    @Option(help: "The lab's name: its namespaces are NAME-client, NAME-gw, NAME-mid and NAME-srv.")
    var name: String = "mslab"

    func validate() throws {
        guard (1...20).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ValidationError("--name takes 1-20 letters, digits, - and _")
        }
    }
}

/// Refuses what needs root, the way every lab command says it.
func requireRoot(_ what: String) throws {
    guard geteuid() == 0 else { throw fail("mssclamp \(what) builds network namespaces and firewall rules: run it as root", code: 69) }
}

extension MSSClamp.Lab {
    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build the lab (after removing one of the same name).")
        @OptionGroup var lab: LabName
        @OptionGroup var path: LabPath
        @Flag(help: "Let the middle router send its ICMP errors: PMTUD works (the control case).")
        var icmp = false

        func run() throws {
            try requireRoot("lab up")
            let built = BlackHoleLab(name: lab.name, narrowMTU: try path.narrowMTU(), dropsICMP: !icmp)
            do {
                try built.up()
            } catch {
                throw fail("lab up: \(error.message)", code: error.kind.isUnavailable ? 69 : 70)
            }
            print("lab \(lab.name) up: \(built.namespaces.joined(separator: " ")); narrow link MTU \(built.narrowMTU); "
                + "ICMP filter \(icmp ? "off (PMTUD works)" : "on (a black hole)")")
            print("server \(BlackHoleLab.serverIPv4) and \(BlackHoleLab.serverIPv6); run mssclamp in \(built.gateway), "
                + "for example: ip netns exec \(built.gateway) mssclamp run --mss \(IPFamily.ipv4.mss(forMTU: built.narrowMTU)) "
                + "--mss6 \(IPFamily.ipv6.mss(forMTU: built.narrowMTU)) --install-rules --control-socket none")
            print("remove it with: mssclamp lab down --name \(lab.name)")
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the lab: its namespaces and every process in them.")
        @OptionGroup var lab: LabName

        func run() throws {
            try requireRoot("lab down")
            BlackHoleLab(name: lab.name, narrowMTU: 1500).down()
            print("lab \(lab.name) down")
        }
    }

    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a download stalling in the black hole without mssclamp and completing with it (IPv4 and IPv6).",
            discussion: "Builds its own lab (named msdemo-PID), always removes it. Exit 0 when both families stalled without mssclamp and completed with it, 1 when not, 69 without root.")
        @OptionGroup var path: LabPath
        @Option(help: "The IPv4 ceiling mssclamp runs with (default: what the narrow link carries).")
        var mss: Int?
        @Option(help: "The IPv6 ceiling (default: what the narrow link carries).")
        var mss6: Int?

        func run() throws {
            try requireRoot("lab demo")
            ProcessSignals.noteInterrupts()
            let narrow = try path.narrowMTU()
            let options = LabDemo.Options(
                name: "msdemo-\(getpid())", narrowMTU: narrow, mss: mss ?? IPFamily.ipv4.mss(forMTU: narrow),
                mss6: mss6 ?? IPFamily.ipv6.mss(forMTU: narrow), executable: MSSClamp.Bench.executable)
            let outcomes: [LabDemo.Outcome]
            do {
                outcomes = try LabDemo.run(options) { print($0) }
            } catch {
                switch error.kind {
                case .unavailable: throw fail(error.message, code: 69)
                case .failed: throw fail(error.message, code: 70)
                case .interrupted(let signal):
                    var stderr = StandardError()
                    print("mssclamp lab demo: interrupted; the lab is removed", to: &stderr)
                    throw ExitCode(128 + signal)
                }
            }
            print("before / after (the server's MSS is the clamp less 12 bytes of TCP timestamps)")
            for family in ["IPv4", "IPv6"] {
                let without = outcomes.first { $0.family == family && !$0.withMSSClamp }
                let with = outcomes.first { $0.family == family && $0.withMSSClamp }
                print("    \(family)  without: \(without.map(LabDemo.describe) ?? "-")")
                print("          with:    \(with.map(LabDemo.describe) ?? "-")")
            }
            let shown = outcomes.allSatisfy { $0.withMSSClamp == $0.download.completed }
            print(shown ? "the demo made its point: stalled without mssclamp, completed with it" : "the demo did NOT show stall-then-fix: see above")
            if !shown { throw ExitCode(1) }
        }
    }
}
