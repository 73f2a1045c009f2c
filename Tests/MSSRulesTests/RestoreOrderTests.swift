import MSSPolicy
import Synchronization
import Testing

@testable import MSSRules

/// A firewall played in memory through `ToolRunner.standIn`: every call is recorded in order, tables
/// are answered from what the test says was installed, and one tool can be made to refuse its input.
/// Assembled by hand from how `RuleSet` and `IptablesBackend` call the tools (iptables-nft, table inet).
final class FakeFirewall: Sendable {
    struct State {
        var calls: [(arguments: [String], input: String?)] = []
        /// `nft list table inet mssclamp_net` answers this (nil: no such table, status 1).
        var net: String?
        /// `iptables-nft-save -t mangle` / `ip6tables-nft-save -t mangle` answer these.
        var mangle: [String: String] = ["iptables": "", "ip6tables": ""]
    }

    let state: Mutex<State>
    /// The tool that exits 1 ("iptables-nft-restore", "ip6tables-nft-restore", "nft -f"), if any.
    let refusing: String?

    init(net: String? = nil, mangle4: String = "", refusing: String? = nil) {
        var state = State()
        state.net = net
        state.mangle["iptables"] = mangle4
        self.state = Mutex(state)
        self.refusing = refusing
    }

    /// The calls so far, each as one line: the arguments joined by spaces.
    var lines: [String] { state.withLock { $0.calls.map { $0.arguments.joined(separator: " ") } } }

    /// The input of the first call whose line starts with `prefix`.
    func input(of prefix: String) -> String? {
        state.withLock { $0.calls.first { $0.arguments.joined(separator: " ").hasPrefix(prefix) }?.input ?? nil }
    }

    /// Where the first call starting with `prefix` is in the order of calls, or nil.
    func index(of prefix: String) -> Int? { lines.firstIndex { $0.hasPrefix(prefix) } }

    func answer(_ arguments: [String], _ input: String?) -> ToolRunner.Result {
        let line = arguments.joined(separator: " ")
        return state.withLock { state in
            state.calls.append((arguments, input))
            if let refusing, line.hasPrefix(refusing) {
                return ToolRunner.Result(status: 1, output: "", error: "\(arguments[0]): refused by the test")
            }
            switch arguments.first {
            case "nft" where arguments.dropFirst().starts(with: ["list", "table"]):
                guard let net = state.net else {
                    return ToolRunner.Result(status: 1, output: "", error: "No such file or directory")
                }
                return ToolRunner.Result(status: 0, output: net, error: "")
            case "nft" where arguments == ["nft", "-f", "-"]:
                state.net = input
                return ToolRunner.Result(status: 0, output: "", error: "")
            case "nft" where arguments.dropFirst().starts(with: ["delete", "table"]):
                state.net = nil
                return ToolRunner.Result(status: 0, output: "", error: "")
            case "iptables-nft-save", "ip6tables-nft-save":
                let family = arguments[0].hasPrefix("ip6") ? "ip6tables" : "iptables"
                return ToolRunner.Result(status: 0, output: state.mangle[family] ?? "", error: "")
            default:
                return ToolRunner.Result(status: 0, output: "", error: "")
            }
        }
    }

    /// Runs `body` with this firewall standing in for the tools.
    func with<R>(_ body: () throws -> R) rethrows -> R {
        try ToolRunner.$standIn.withValue({ [self] in answer($0, $1) }, operation: body)
    }
}

/// The order of the firewall changes: the kernel safety net goes in before the NFQUEUE rules (a SYN the
/// queue passes by must meet the net), and a refused NFQUEUE apply takes back what this apply did, the
/// net included, leaving the previous state.
@Suite("Rule apply order and rollback")
struct RestoreOrderTests {
    let spec = RuleSpec(queues: QueueRange(first: 0, last: 0), lowest: Ceilings(ipv4: 1360, ipv6: 1340))
    let policy = NftPolicy(defaults: Ceilings(ipv4: 1360, ipv6: 1340), peers: [])
    let rules = RuleSet(iptables: IptablesBackend(variant: .nft))
    /// A mangle table iptables-save printed before mssclamp's rules were there.
    static let previousMangle =
        "*mangle\n:PREROUTING ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j MARK --set-mark 0x1\nCOMMIT"
    static let previousNet = "table inet mssclamp_net {\n\tchain forward {\n\t}\n}\n"

    @Test func theNetGoesInBeforeTheQueueRules() throws {
        let firewall = FakeFirewall()
        let notes = try firewall.with { try rules.apply(spec, policy: policy) }
        #expect(notes.isEmpty, "\(notes)")
        let net = try #require(firewall.index(of: "nft -f -"), "\(firewall.lines)")
        let queue4 = try #require(firewall.index(of: "iptables-nft-restore --noflush"), "\(firewall.lines)")
        let queue6 = try #require(firewall.index(of: "ip6tables-nft-restore --noflush"), "\(firewall.lines)")
        #expect(net < queue4 && net < queue6, "\(firewall.lines)")
        // The net is the one the safety net renders, in a transaction that replaces any old table.
        let transaction = try #require(firewall.input(of: "nft -f -"))
        #expect(transaction.hasPrefix("table inet mssclamp_net\ndelete table inet mssclamp_net\n"))
        #expect(transaction.hasSuffix(SafetyNet.script(policy, spec: spec)))
        let undone = firewall.lines.filter { $0.hasPrefix("nft delete") || $0.contains("-T mangle") }
        #expect(undone.isEmpty, "\(firewall.lines)")
    }

    @Test func aRefusedQueueApplyTakesANewNetOutAgain() throws {
        let firewall = FakeFirewall(mangle4: Self.previousMangle, refusing: "ip6tables-nft-restore --noflush")
        #expect(throws: RuleError.self) { try firewall.with { try rules.apply(spec, policy: policy) } }
        let refused = try #require(firewall.index(of: "ip6tables-nft-restore --noflush"), "\(firewall.lines)")
        let netRemoved = try #require(firewall.index(of: "nft delete table inet mssclamp_net"), "\(firewall.lines)")
        #expect(refused < netRemoved)
        // No net before: nothing is put back in its place.
        #expect(firewall.lines.filter { $0 == "nft -f -" }.count == 1, "\(firewall.lines)")
        #expect(firewall.state.withLock { $0.net } == nil)
    }

    @Test func aRefusedQueueApplyPutsThePreviousNetBack() throws {
        let firewall = FakeFirewall(net: Self.previousNet, refusing: "ip6tables-nft-restore --noflush")
        #expect(throws: RuleError.self) { try firewall.with { try rules.apply(spec, policy: policy) } }
        let applies = firewall.state.withLock { $0.calls.filter { $0.arguments == ["nft", "-f", "-"] }.map(\.input) }
        #expect(applies.count == 2, "\(firewall.lines)")
        #expect(applies.last == "table inet mssclamp_net\ndelete table inet mssclamp_net\n" + Self.previousNet)
        #expect(!firewall.lines.contains { $0.hasPrefix("nft delete table") }, "\(firewall.lines)")
    }

    /// iptables and ip6tables are two transactions: when the second refuses, the first family gets its
    /// whole previous mangle table back.
    @Test func aRefusedIp6tablesApplyRestoresIptables() throws {
        let firewall = FakeFirewall(mangle4: Self.previousMangle, refusing: "ip6tables-nft-restore --noflush")
        #expect(throws: RuleError.self) { try firewall.with { try IptablesBackend(variant: .nft).apply(spec) } }
        let lines = firewall.lines
        let applied4 = try #require(lines.firstIndex(of: "iptables-nft-restore --noflush"), "\(lines)")
        let refused6 = try #require(lines.firstIndex(of: "ip6tables-nft-restore --noflush"), "\(lines)")
        let restored4 = try #require(lines.firstIndex(of: "iptables-nft-restore -T mangle"), "\(lines)")
        #expect(applied4 < refused6 && refused6 < restored4, "\(lines)")
        #expect(firewall.input(of: "iptables-nft-restore -T mangle") == Self.previousMangle + "\n")
        // ip6tables refused its script whole: there is nothing of it to take back.
        #expect(!lines.contains("ip6tables-nft-restore -T mangle"), "\(lines)")
    }

    /// When iptables refuses first, nothing was changed and nothing is rolled back.
    @Test func aRefusedIptablesApplyTouchesNothingElse() throws {
        let firewall = FakeFirewall(mangle4: Self.previousMangle, refusing: "iptables-nft-restore --noflush")
        #expect(throws: RuleError.self) { try firewall.with { try IptablesBackend(variant: .nft).apply(spec) } }
        #expect(firewall.lines == ["iptables-nft-save -t mangle", "iptables-nft-restore --noflush"])
    }

    /// A net the kernel refuses does not keep the queue rules out; it is reported.
    @Test func aRefusedNetIsReportedAndTheQueueRulesStillGoIn() throws {
        let firewall = FakeFirewall(refusing: "nft -f -")
        let notes = try firewall.with { try rules.apply(spec, policy: policy) }
        #expect(notes.count == 1 && notes[0].hasPrefix("safety net NOT installed: nft refused the rules"), "\(notes)")
        #expect(firewall.index(of: "ip6tables-nft-restore --noflush") != nil, "\(firewall.lines)")
    }
}
