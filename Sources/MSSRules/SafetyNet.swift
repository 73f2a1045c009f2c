import MSSPolicy

/// The kernel safety net behind the NFQUEUE rules: the whole policy in nft maps, in a hook after the
/// queue, so SYNs that user space could not take (no daemon, a restart, a full queue with fail-open) are
/// still clamped to their peer's ceiling, and counted.
public enum SafetyNet {
    public static let counter = "clamped"
    /// After the iptables mangle table (priority -150), where NFQUEUE hands the SYNs to the daemon: a
    /// SYN the daemon clamped passes unchanged, one that skipped the queue is clamped here.
    public static let priority = "mangle + 10"

    /// The net of `spec`'s instance: its hooks, and its scope (a scoped instance's net clamps only what
    /// enters or leaves through its interfaces, and leaves other instances' traffic to them).
    public static func script(_ policy: NftPolicy, spec: RuleSpec) -> String {
        policy.script(table: spec.instance.netTable, hooks: spec.hooks, priority: priority, counter: counter, scope: spec.interfaces)
    }

    /// SYNs the net lowered since it was installed, from `nft list counter`; nil when there is no net.
    public static func clampedCount(instance: Instance) -> UInt64? {
        guard let result = try? ToolRunner.run(["nft", "list", "counter", "inet", instance.netTable, counter], timeout: 5),
            result.status == 0
        else { return nil }
        for line in result.output.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let index = words.firstIndex(of: "packets"), index + 1 < words.count { return UInt64(words[index + 1]) }
        }
        return nil
    }
}
