import MSSPolicy
import MSSRules
import Testing

@Suite("iptables rule rendering")
struct IptablesRenderTests {
    let spec = RuleSpec(queues: QueueRange(first: 0, last: 0), lowest: Ceilings(ipv4: 1360, ipv6: 1340))

    @Test func goldenChainRules() {
        // Every SYN, while the daemon is alive: no prefilter on the MSS.
        #expect(IptablesRules.chainRules(spec, family: .ipv4) == [
            "-A MSSCLAMP -p tcp -m tcp --tcp-flags SYN,RST SYN -m recent --rcheck --seconds 2 --name mssclamp_alive --mask 0.0.0.0 --rsource -m comment --comment mssclamp -j NFQUEUE --queue-num 0 --queue-bypass"
        ])
        var balanced = spec
        balanced.queues = QueueRange(first: 2, last: 5)
        balanced.cpuFanout = true
        balanced.insertMissing = false
        balanced.liveness = false
        #expect(IptablesRules.chainRules(balanced, family: .ipv6) == [
            "-A MSSCLAMP -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment mssclamp -j NFQUEUE --queue-balance 2:5 --queue-bypass --queue-cpu-fanout"
        ])
        var noIPv6 = spec
        noIPv6.lowest.ipv6 = nil
        #expect(IptablesRules.chainRules(noIPv6, family: .ipv6).isEmpty)
    }

    @Test func applyScriptConverges() {
        let empty = IptablesRules.Installed(parsing: "", chain: "MSSCLAMP")
        #expect(IptablesRules.applyScript(spec, family: .ipv4, installed: empty) == """
            *mangle
            :MSSCLAMP - [0:0]
            -A MSSCLAMP -p tcp -m tcp --tcp-flags SYN,RST SYN -m recent --rcheck --seconds 2 --name mssclamp_alive --mask 0.0.0.0 --rsource -m comment --comment mssclamp -j NFQUEUE --queue-num 0 --queue-bypass
            -I FORWARD 1 -j MSSCLAMP
            COMMIT

            """)
        // Already jumped to from FORWARD, plus a stray OUTPUT jump twice: no new jump, both strays removed.
        let save = """
            *mangle
            :PREROUTING ACCEPT [0:0]
            :MSSCLAMP - [0:0]
            -A FORWARD -j MSSCLAMP
            -A OUTPUT -j MSSCLAMP
            -A OUTPUT -j MSSCLAMP
            -A MSSCLAMP -p tcp -j ACCEPT
            COMMIT
            """
        let installed = IptablesRules.Installed(parsing: save, chain: "MSSCLAMP")
        #expect(installed.chainExists)
        #expect(installed.jumps == [.forward: 1, .output: 2])
        #expect(installed.chainRules == ["-A MSSCLAMP -p tcp -j ACCEPT"])
        let script = IptablesRules.applyScript(spec, family: .ipv4, installed: installed)
        #expect(!script.contains("-I FORWARD"))
        #expect(script.components(separatedBy: "-D OUTPUT -j MSSCLAMP").count - 1 == 2)
    }

    @Test func removeScript() {
        #expect(IptablesRules.removeScript(chain: "MSSCLAMP", installed: .init(parsing: "", chain: "MSSCLAMP")) == nil)
        let installed = IptablesRules.Installed(
            parsing: "*mangle\n:MSSCLAMP - [0:0]\n-A FORWARD -j MSSCLAMP\nCOMMIT\n", chain: "MSSCLAMP")
        #expect(IptablesRules.removeScript(chain: "MSSCLAMP", installed: installed)
            == "*mangle\n-D FORWARD -j MSSCLAMP\n-F MSSCLAMP\n-X MSSCLAMP\nCOMMIT\n")
    }

    @Test func samplingPrintsAsIptablesSaveDoes() {
        // iptables-save prints "%.11f" of the kernel's fixed-point probability: exact for 2^-1 ... 2^-11.
        #expect(IptablesRules.sample(shift: 1) == "-m statistic --mode random --probability 0.50000000000")
        #expect(IptablesRules.sample(shift: 10) == "-m statistic --mode random --probability 0.00097656250")
        #expect(IptablesRules.sample(shift: 11) == "-m statistic --mode random --probability 0.00048828125")
        #expect(IptablesRules.sample(shift: 40) == IptablesRules.sample(shift: 11))
        for shift in 1...IptablesRules.maximumSampleShift {
            #expect(IptablesRules.sampleShift(of: IptablesRules.jump(.forward, chain: "MSSCLAMP", sampleShift: shift)) == shift)
        }
    }

    @Test func sheddingSamplesAtTheJumpAndVerifyAcceptsItWithoutAShift() {
        var shedding = spec
        shedding.sampleShift = 9
        let jump = "-A FORWARD -m statistic --mode random --probability 0.00195312500 -j MSSCLAMP"
        #expect(IptablesRules.jump(.forward, chain: "MSSCLAMP", sampleShift: 9) == jump)
        // From every SYN queued to shedding: the plain jump goes, the sampled one comes first.
        let plain = IptablesRules.Installed(
            parsing: "*mangle\n:MSSCLAMP - [0:0]\n-A FORWARD -j MSSCLAMP\n" + IptablesRules.chainRules(spec, family: .ipv4)[0] + "\nCOMMIT\n", chain: "MSSCLAMP")
        let script = IptablesRules.applyScript(shedding, family: .ipv4, installed: plain)
        #expect(script.contains("-D FORWARD -j MSSCLAMP\n-I FORWARD 1 -m statistic --mode random --probability 0.00195312500 -j MSSCLAMP"), "\(script)")
        let sampled = IptablesRules.Installed(
            parsing: "*mangle\n:MSSCLAMP - [0:0]\n\(jump)\n" + IptablesRules.chainRules(spec, family: .ipv4)[0] + "\nCOMMIT\n", chain: "MSSCLAMP")
        #expect(sampled.jumps == [.forward: 1])
        // The daemon's own spec compares exactly; a spec without a shift (rules verify) accepts any.
        #expect(IptablesRules.differences(shedding, family: .ipv4, installed: sampled).isEmpty)
        #expect(IptablesRules.differences(spec, family: .ipv4, installed: sampled).isEmpty)
        #expect(IptablesRules.applyScript(spec, family: .ipv4, installed: sampled).contains("FORWARD") == false)
        var everySYN = spec
        everySYN.sampleShift = 0
        #expect(IptablesRules.differences(everySYN, family: .ipv4, installed: sampled) == [
            "ipv4: missing jump: -A FORWARD -j MSSCLAMP", "ipv4: unexpected jump: \(jump)",
        ])
        #expect(IptablesRules.removeScript(chain: "MSSCLAMP", installed: sampled)?.contains("-D FORWARD -m statistic --mode random --probability 0.00195312500 -j MSSCLAMP") == true)
    }

    @Test func sheddingEverythingTakesTheJumpOutAndSaysSoInTheChain() {
        var all = spec
        all.sampleShift = RuleSpec.shedAll
        let rules = IptablesRules.chainRules(all, family: .ipv4)
        #expect(rules.last == "-A MSSCLAMP -m comment --comment mssclamp-shedding -j RETURN")
        let plain = IptablesRules.Installed(
            parsing: "*mangle\n:MSSCLAMP - [0:0]\n-A FORWARD -j MSSCLAMP\n" + IptablesRules.chainRules(spec, family: .ipv4)[0] + "\nCOMMIT\n", chain: "MSSCLAMP")
        let script = IptablesRules.applyScript(all, family: .ipv4, installed: plain)
        #expect(script.contains("-D FORWARD -j MSSCLAMP") && !script.contains("-I FORWARD"), "\(script)")
        let shed = IptablesRules.Installed(parsing: "*mangle\n:MSSCLAMP - [0:0]\n" + rules.joined(separator: "\n") + "\nCOMMIT\n", chain: "MSSCLAMP")
        #expect(IptablesRules.differences(all, family: .ipv4, installed: shed).isEmpty)
        // rules verify (no shift of its own) reads the marker: no jump is what it expects.
        #expect(IptablesRules.differences(spec, family: .ipv4, installed: shed).isEmpty)
        // Without the marker a missing jump is a difference.
        #expect(IptablesRules.differences(spec, family: .ipv4, installed: IptablesRules.Installed(
            parsing: "*mangle\n:MSSCLAMP - [0:0]\n" + rules[0] + "\nCOMMIT\n", chain: "MSSCLAMP")) == ["ipv4: missing jump: -A FORWARD -j MSSCLAMP"])
        // The daemon's install (every SYN queued) puts the jump back and drops the marker.
        var everySYN = spec
        everySYN.sampleShift = 0
        #expect(IptablesRules.differences(everySYN, family: .ipv4, installed: shed).count == 2)
    }

    @Test func queueRangesAndHooks() {
        #expect(QueueRange(parsing: "3") == QueueRange(first: 3, last: 3))
        #expect(QueueRange(parsing: "0-3")?.queues == [0, 1, 2, 3])
        #expect(QueueRange(parsing: "4-1") == nil)
        #expect(QueueRange(parsing: "x") == nil)
        #expect(QueueRange(parsing: "70000") == nil)
        #expect(Hook.parseList("forward, output,forward") == [.forward, .output])
        #expect(Hook.parseList("input") == nil)
    }
}
