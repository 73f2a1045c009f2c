import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The rule helpers against the real iptables (nf_tables and legacy backends) and nft, each in its own
/// network namespace so the host's rules are never touched.
@Suite(
    "Rule helpers against real iptables and nft",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct RulesTests {
    /// iptables-save and ip6tables-save of a variant, without comments and counters, with an empty mangle
    /// table treated as absent (legacy tables cannot be unregistered once a namespace used them).
    static func saved(_ namespace: NetworkNamespace, _ variant: String) throws -> String {
        var text = ""
        for tool in ["iptables-\(variant)-save", "ip6tables-\(variant)-save"] {
            let output = try namespace.exec([tool])
            var tables: [String: [String]] = [:]
            var current = ""
            for line in output.split(separator: "\n").map(String.init) where !line.hasPrefix("#") {
                if line.hasPrefix("*") { current = line; tables[current] = [] }
                else if line != "COMMIT" { tables[current, default: []].append(line.replacingOccurrences(of: #"\[\d+:\d+\]"#, with: "", options: .regularExpression)) }
            }
            for (name, lines) in tables.sorted(by: { $0.key < $1.key }) {
                let empty = lines.allSatisfy { $0.hasPrefix(":") && $0.contains(" ACCEPT") }
                if !empty { text += "\(tool) \(name)\n" + lines.joined(separator: "\n") + "\n" }
            }
        }
        return text
    }

    static func mssclamp(_ namespace: NetworkNamespace, variant: String? = nil, _ arguments: [String]) throws -> CommandResult {
        try namespace.run(["env"] + (variant.map { ["MSSCLAMP_IPTABLES=\($0)"] } ?? []) + [BuiltProducts.mssclamp] + arguments)
    }

    @Test(arguments: ["nft", "legacy"])
    func applyVerifyTamperRemove(variant: String) throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        // Someone else's rule in the mangle table must survive everything below.
        try namespace.exec(["iptables-\(variant)", "-t", "mangle", "-A", "PREROUTING", "-p", "udp", "-j", "ACCEPT"])
        let before = try Self.saved(namespace, variant)
        let rules = ["rules", "apply", "--mss", "1360", "--queue", "0-1", "--hooks", "forward,output"]

        let apply = try Self.mssclamp(namespace, variant: variant, rules)
        #expect(apply.status == 0, "\(apply.error)")
        #expect(apply.output.contains("iptables-\(variant)"))
        let applied = try Self.saved(namespace, variant)
        // Every SYN is queued (up to the admission rate): no prefilter on the first MSS option. The queue
        // range names the instance, and so the chain, the liveness list and the admission bucket.
        let queueRule = { (mask: String) in
            "-A MSSCLAMP-0-1 -p tcp -m tcp --tcp-flags SYN,RST SYN -m recent --rcheck --seconds 2 --name mssclamp_alive-0-1 --mask \(mask) --rsource -m comment --comment mssclamp -j NFQUEUE --queue-balance 0:1 --queue-bypass"
        }
        let sections = applied.components(separatedBy: "ip6tables-")
        #expect(sections.count == 2 && sections[0].contains(queueRule("0.0.0.0")), "\(applied)")
        #expect(sections.count == 2 && sections[1].contains(queueRule("::")), "IPv6 rules missing: \(applied)")
        #expect(try namespace.run(["nft", "list", "table", "inet", "mssclamp_net_0_1"]).status == 0, "no safety net")

        var verify = try Self.mssclamp(namespace, variant: variant, ["rules", "verify", "--mss", "1360", "--queue", "0-1", "--hooks", "forward,output"])
        #expect(verify.status == 0, "\(verify.output) \(verify.error)")

        // Idempotent: a second apply changes nothing.
        #expect(try Self.mssclamp(namespace, variant: variant, rules).status == 0)
        #expect(try Self.saved(namespace, variant) == applied)

        // Another tool flushes the mangle table: verify says what is missing and exits 1.
        try namespace.exec(["iptables-\(variant)", "-t", "mangle", "-F"])
        verify = try Self.mssclamp(namespace, variant: variant, ["rules", "verify", "--mss", "1360", "--queue", "0-1", "--hooks", "forward,output"])
        #expect(verify.status == 1)
        #expect(verify.output.contains("ipv4: missing jump: -A FORWARD -j MSSCLAMP-0-1"), "\(verify.output)")
        #expect(verify.output.contains("ipv4: missing rule:"), "\(verify.output)")
        #expect(!verify.output.contains("ipv6:"), "IPv6 was not touched: \(verify.output)")
        // A different policy is a difference too.
        #expect(try Self.mssclamp(namespace, variant: variant, ["rules", "verify", "--mss", "1300", "--queue", "0-1", "--hooks", "forward,output"]).status == 1)

        #expect(try Self.mssclamp(namespace, variant: variant, rules).status == 0)
        try namespace.exec(["iptables-\(variant)", "-t", "mangle", "-A", "PREROUTING", "-p", "udp", "-j", "ACCEPT"])
        verify = try Self.mssclamp(namespace, variant: variant, ["rules", "verify", "--mss", "1360", "--queue", "0-1", "--hooks", "forward,output"])
        #expect(verify.status == 0, "\(verify.output)")

        // Instance 0 has nothing here: removing it leaves instance 0-1 alone and says that it is there.
        let other = try Self.mssclamp(namespace, variant: variant, ["rules", "remove"])
        #expect(other.status == 0 && other.error.contains("instance(s) 0-1 keep theirs"), "\(other.error)")
        #expect(try Self.saved(namespace, variant) == applied)
        let remove = try Self.mssclamp(namespace, variant: variant, ["rules", "remove", "--queue", "0-1"])
        #expect(remove.status == 0, "\(remove.error)")
        #expect(try Self.saved(namespace, variant) == before, "residue after remove")
        #expect(try namespace.run(["nft", "list", "table", "inet", "mssclamp_net_0_1"]).status != 0, "the safety net stayed")
        // Removing again is a no-op, not an error.
        #expect(try Self.mssclamp(namespace, variant: variant, ["rules", "remove", "--instance", "0-1"]).status == 0)
    }

    /// A failing apply leaves the previous state: IPv4 goes in, ip6tables-restore then refuses (a stand-in
    /// that exits 1, first on PATH), and the IPv4 mangle table must be rolled back.
    @Test func failedApplyRollsBack() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        try namespace.exec(["iptables-nft", "-t", "mangle", "-A", "FORWARD", "-p", "udp", "-j", "ACCEPT"])
        let before = try Self.saved(namespace, "nft")
        let directory = TemporaryFile(unusedSuffix: "-bin")
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let failing = directory.path + "/ip6tables-nft-restore"
        try "#!/bin/sh\necho 'ip6tables-restore: line 3 failed' >&2\nexit 1\n".write(toFile: failing, atomically: true, encoding: .utf8)
        chmod(failing, 0o755)
        // The stand-in exits without reading its input: whether mssclamp's write comes before or after
        // that exit is a race, so the apply is repeated; every round must roll back (it used to die of
        // SIGPIPE now and then, leaving the IPv4 rules applied).
        for round in 0..<5 {
            let result = try namespace.run([
                "env", "MSSCLAMP_IPTABLES=nft", "PATH=\(directory.path):/usr/sbin:/usr/bin:/sbin:/bin", BuiltProducts.mssclamp,
                "rules", "apply", "--mss", "1360",
            ])
            #expect(result.status == 69, "round \(round): \(result.error)")
            #expect(result.error.contains("refused the rules (nothing was changed)"), "round \(round): \(result.error)")
            #expect(try Self.saved(namespace, "nft") == before, "round \(round): IPv4 rules were not rolled back")
        }
        try? FileManager.default.removeItem(atPath: directory.path)
    }

    @Test func nftQueueBackendSaysWhetherTheKernelCanQueue() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let probe = try namespace.run(["sh", "-c", "printf 'table inet p {\\n chain c {\\n type filter hook forward priority 0;\\n queue num 0 bypass\\n }\\n}\\n' | nft -c -f -"])
        let result = try Self.mssclamp(namespace, ["rules", "apply", "--backend", "nftables", "--mss", "1360"])
        if probe.error.contains("No such file or directory") {
            // This machine's kernel: CONFIG_NFT_QUEUE is off.
            #expect(result.status == 69)
            #expect(result.error.contains("CONFIG_NFT_QUEUE") && result.error.contains("--backend iptables"), "\(result.error)")
            #expect(try namespace.run(["nft", "list", "table", "inet", "mssclamp"]).status != 0, "nothing installed")
        } else {
            #expect(result.status == 0, "\(result.error)")
            #expect(try Self.mssclamp(namespace, ["rules", "verify", "--backend", "nftables", "--mss", "1360"]).status == 0)
            #expect(try Self.mssclamp(namespace, ["rules", "remove", "--backend", "nftables"]).status == 0)
        }
    }

    @Test func importReplaceSwapsTCPMSSForTheQueueRules() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let seed = """
            *mangle
            -A FORWARD -o eth0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss 1361:1536 -j TCPMSS --set-mss 1360
            -A FORWARD -s 10.8.0.0/24 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1300
            COMMIT

            """
        _ = try Shell.run(["ip", "netns", "exec", namespace.name, "iptables-nft-restore", "--noflush"], input: Data(seed.utf8))
        let save = try namespace.exec(["iptables-nft-save"])
        #expect(save.contains("TCPMSS"))
        let policy = TemporaryFile(unusedSuffix: ".toml")
        let input = TemporaryFile(unusedSuffix: ".txt")
        try save.write(toFile: input.path, atomically: true, encoding: .utf8)
        let result = try Self.mssclamp(namespace, variant: "nft", ["rules", "import", input.path, "--output", policy.path, "--replace"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("2 TCPMSS rule(s) translated, 0 not"), "\(result.error)")
        let after = try namespace.exec(["iptables-nft-save", "-t", "mangle"])
        #expect(!after.contains("TCPMSS"), "\(after)")
        #expect(after.contains("-j NFQUEUE --queue-num 0 --queue-bypass") && after.contains("-A FORWARD -j MSSCLAMP"), "\(after)")
        let check = try Shell.run([BuiltProducts.mssclamp, "check", "--config", policy.path])
        #expect(check.status == 0, "\(check.output) \(check.error)")
    }

    /// The nft-map offload: two client subnets get different MSS values through the kernel alone.
    @Test func nftMapOffloadClampsPerSubnetWithoutTheDaemon() throws {
        let lab = try Lab()
        defer { lab.tearDown() }
        try lab.exec(lab.client, ["ip", "addr", "add", "192.0.2.130/24", "dev", "c-g"])
        try lab.startServer()
        let config = TemporaryFile(unusedSuffix: ".toml")
        try """
            [defaults]
            mss4 = 1360
            mss6 = 1340

            [[peer]]
            name = "subnet-a"
            match = ["192.0.2.0/25"]
            mss = 1300

            [[peer]]
            name = "subnet-b"
            match = ["192.0.2.128/25"]
            mss = 1200
            """.write(toFile: config.path, atomically: true, encoding: .utf8)
        let arguments = ["--backend", "nft-map", "--config", config.path]
        let apply = try lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "apply"] + arguments)
        #expect(apply.status == 0, "\(apply.error)")
        func mss(_ source: String?, _ server: String = Lab.serverIPv4) throws -> Int {
            let value = try lab.serverMSS(from: lab.client, host: server, source: source)
            return value.maxseg + (value.timestamps ? 12 : 0)
        }
        #expect(try mss(Lab.clientIPv4) == 1300)
        #expect(try mss("192.0.2.130") == 1200)
        #expect(try mss(nil, Lab.serverIPv6) == 1340)  // no IPv6 peer: the defaults
        #expect(try lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "verify"] + arguments).status == 0)

        try lab.exec(lab.gateway, ["nft", "flush", "chain", "inet", "mssclamp", "clamp_1200"])
        let verify = try lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "verify"] + arguments)
        #expect(verify.status == 1 && verify.output.contains("missing: tcp option maxseg size > 1200"), "\(verify.output) \(verify.error)")

        #expect(try lab.run(lab.gateway, [BuiltProducts.mssclamp, "rules", "remove", "--backend", "nft-map"]).status == 0)
        #expect(try lab.run(lab.gateway, ["nft", "list", "table", "inet", "mssclamp"]).status != 0)
    }
}
