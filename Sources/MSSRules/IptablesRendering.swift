import MSSPolicy
import MSSWire

/// Rendering of mssclamp's iptables rules, exactly as `iptables-save` prints them so that a saved
/// ruleset can be compared line by line.
public enum IptablesRules {
    public static let comment = "mssclamp"

    /// The NFQUEUE target: one queue, or a balanced range; always with --queue-bypass, so traffic flows
    /// unclamped rather than stopping when no daemon listens.
    static func target(_ spec: RuleSpec) -> String {
        if spec.queues.count == 1 {
            return "-j NFQUEUE --queue-num \(spec.queues.first) --queue-bypass"
        }
        return "-j NFQUEUE --queue-balance \(spec.queues.first):\(spec.queues.last) --queue-bypass"
            + (spec.cpuFanout ? " --queue-cpu-fanout" : "")
    }

    /// The rules inside the dedicated chain for one family (empty when that family is never clamped).
    ///
    /// Every SYN and SYN/ACK is queued. A prefilter such as `-m tcpmss --mss 1361:65535` looks at the
    /// first MSS option only: it would hide `[MSS 1300, MSS 1460]` from the daemon while the receiver
    /// reads 1460, and an MSS followed by a malformed option too. What this costs (SYNs already low make
    /// the round trip) is measured by `scripts/bench queue` (docs/benchmarks.md).
    public static func chainRules(_ spec: RuleSpec, family: IPFamily) -> [String] {
        let lowest = family == .ipv4 ? spec.lowest.ipv4 : spec.lowest.ipv6
        guard lowest != nil else { return [] }
        // As iptables-save prints it, so verify can compare line by line.
        let alive = spec.liveness ? Liveness.match(for: family, instance: spec.instance) + " " : ""
        // A scoped instance queues what enters or leaves through its interfaces: a rule per direction
        // and interface (iptables-save prints -i/-o first).
        let scopes = spec.interfaces.isEmpty ? [""] : spec.interfaces.flatMap { ["-i \($0) ", "-o \($0) "] }
        let queue = scopes.map {
            "-A \(spec.chain) \($0)-p tcp -m tcp --tcp-flags SYN,RST SYN \(alive)-m comment --comment \(comment) \(target(spec))"
        }
        return spec.sampleShift == RuleSpec.shedAll ? queue + [sheddingMarker(spec.chain)] : queue
    }

    /// While the daemon sheds everything, no jump leads to the chain; this rule in it (never reached by
    /// a SYN: the queue rule before it takes them all) says so to `rules verify`.
    public static func sheddingMarker(_ chain: String) -> String { "-A \(chain) -m comment --comment mssclamp-shedding -j RETURN" }

    /// A spec without a shift of its own (the command line's) takes the one a running daemon chose
    /// where the installed rules say the daemon sheds everything.
    static func effective(_ spec: RuleSpec, _ installed: Installed) -> RuleSpec {
        guard spec.sampleShift == nil, installed.chainRules.contains(sheddingMarker(spec.chain)) else { return spec }
        var spec = spec
        spec.sampleShift = RuleSpec.shedAll
        return spec
    }

    /// The jumps a hook should have: one, unless the hook is not used or the daemon sheds everything.
    static func wantedJumps(_ spec: RuleSpec, _ hook: Hook) -> [String] {
        spec.hooks.contains(hook) && spec.sampleShift != RuleSpec.shedAll ? [jump(hook, chain: spec.chain, sampleShift: spec.sampleShift)] : []
    }

    /// A hook's installed jumps as `spec` compares them with its own: a spec without a shift of its own
    /// (the command line's) keeps whatever sampling a running daemon chose, so it compares them without.
    static func comparedJumps(_ spec: RuleSpec, _ installed: Installed, _ hook: Hook) -> [String] {
        let saved = installed.jumpLines[hook] ?? []
        return spec.sampleShift == nil ? saved.map(withoutSampling) : saved
    }

    /// The largest sampling shift rendered (1 SYN in 2048 queued): 2^-11 prints exactly with iptables'
    /// 11 decimals, so verification compares the same text.
    public static let maximumSampleShift = 11

    /// `-m statistic --mode random --probability P` with P = 2^-shift, as iptables-save prints it
    /// ("%.11f" of the kernel's fixed-point value, exact for these powers of two).
    public static func sample(shift: Int) -> String {
        let shift = min(max(shift, 0), maximumSampleShift)
        let match = "-m statistic --mode random --probability "
        guard shift > 0 else { return match + "1.00000000000" }
        // 2^-k = 5^k / 10^k: the digits of 5^k, zero-padded on the left to k, then zeros to 11 decimals.
        var five = 1
        for _ in 0..<shift { five *= 5 }
        let digits = String(five)
        return match + "0." + String(repeating: "0", count: shift - digits.count) + digits + String(repeating: "0", count: 11 - shift)
    }

    /// A jump without its sampling match: what `rules verify` compares when a daemon may be shedding
    /// (`RuleSpec.sampleShift` nil).
    static func withoutSampling(_ rule: String) -> String {
        guard let range = rule.range(of: " -m statistic --mode random --probability ") else { return rule }
        let rest = rule[range.upperBound...]
        let end = rest.firstIndex(of: " ") ?? rest.endIndex
        return String(rule[..<range.lowerBound]) + String(rest[end...])
    }

    /// The sampling shift of an installed jump (0 when it has no sampling match).
    public static func sampleShift(of rule: String) -> Int {
        for shift in 1...maximumSampleShift where rule.contains(sample(shift: shift)) { return shift }
        return 0
    }

    /// The jump from a built-in chain, as iptables-save prints it. While the daemon sheds, the jump
    /// carries the sampling match: under a flood it is the only rule most SYNs meet (each rule and jump
    /// costs a few percent of a flood's rate), and it keeps no state shared between CPUs.
    public static func jump(_ hook: Hook, chain: String, sampleShift: Int? = nil) -> String {
        let shift = sampleShift ?? 0
        return "-A \(hook.chain) " + (shift > 0 ? sample(shift: shift) + " " : "") + "-j \(chain)"
    }

    /// Whether `line` is a jump from `hook` to `chain`, sampled or not.
    static func isJump(_ line: String, hook: Hook, chain: String) -> Bool {
        withoutSampling(line) == jump(hook, chain: chain)
    }

    /// The `-D` line that deletes an installed rule.
    static func deletion(_ line: String) -> String { "-D" + line.dropFirst(2) }


    /// An `iptables-restore --noflush` script that makes the mangle table match `spec`, starting from
    /// `installed`: the chain is declared (which creates or empties it) and refilled; a hook whose jumps
    /// differ from the one wanted loses them and gets it inserted first. Applying it twice changes
    /// nothing more.
    public static func applyScript(_ spec: RuleSpec, family: IPFamily, installed: Installed) -> String {
        let spec = effective(spec, installed)
        var lines = ["*mangle", ":\(spec.chain) - [0:0]"]
        lines += chainRules(spec, family: family)
        for hook in Hook.allCases {
            let wanted = wantedJumps(spec, hook)
            guard comparedJumps(spec, installed, hook) != wanted else { continue }
            lines += (installed.jumpLines[hook] ?? []).map(deletion)
            lines += wanted.map { "-I \(hook.chain) 1" + $0.dropFirst(3 + hook.chain.count) }
        }
        lines.append("COMMIT")
        return lines.joined(separator: "\n") + "\n"
    }

    /// What differs between `installed` and the rules `spec` renders for `family`.
    public static func differences(_ spec: RuleSpec, family: IPFamily, installed: Installed) -> [String] {
        let name = family == .ipv4 ? "ipv4" : "ipv6"
        let spec = effective(spec, installed)
        let wanted = chainRules(spec, family: family)
        let installedRules = installed.chainRules
        var lines: [String] = []
        if !installed.chainExists {
            lines.append("\(name): chain \(spec.chain) is missing from the mangle table")
        } else {
            for rule in wanted where !installedRules.contains(rule) { lines.append("\(name): missing rule: \(rule)") }
            for rule in installedRules where !wanted.contains(rule) { lines.append("\(name): unexpected rule: \(rule)") }
            if lines.isEmpty && installedRules != wanted {
                lines.append("\(name): rules of \(spec.chain) are out of order")
            }
        }
        for hook in Hook.allCases {
            let present = comparedJumps(spec, installed, hook)
            let expected = wantedJumps(spec, hook)
            for line in expected where !present.contains(line) { lines.append("\(name): missing jump: \(line)") }
            let surplus = present.filter { !expected.contains($0) } + Array(present.filter(expected.contains).dropFirst())
            for line in surplus { lines.append("\(name): unexpected jump: \(line)") }
        }
        return lines
    }

    /// A script that removes every jump to the chain and the chain itself; nil when nothing is installed.
    public static func removeScript(chain: String, installed: Installed) -> String? {
        guard installed.chainExists || !installed.jumpLines.isEmpty else { return nil }
        var lines = ["*mangle"]
        for (_, saved) in installed.jumpLines.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            lines += saved.map(deletion)
        }
        if installed.chainExists { lines += ["-F \(chain)", "-X \(chain)"] }
        lines.append("COMMIT")
        return lines.joined(separator: "\n") + "\n"
    }
}
