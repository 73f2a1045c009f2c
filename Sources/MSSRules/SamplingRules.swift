/// The kernel half of the black-hole detector: an nftables table that copies the headers of a bounded
/// sample of large TCP data segments to an NFLOG group (docs/design.md, "Black holes in live traffic").
///
/// The bound is per flow and in all: each flow (addresses and ports) gets at most `rate` samples a second,
/// with a burst of `burst`, from a dynamic set the kernel keeps (entries expire after 30 s idle; when it
/// holds `flows` of them, new flows go unsampled), and all flows together at most `total` a second per
/// family. A bulk flow at line rate costs one set lookup per large
/// packet and `rate` copies a second; a flow whose segment is lost and resent on a backed-off timer (at
/// most 5 a second from 200 ms on) is seen every time. Packets of `minimumPacket` bytes or less (every
/// SYN and pure ACK) leave the chain at its first expression; SYNs and RSTs are never sampled.
public enum SamplingRules {
    public static let rate = 10
    public static let burst = 5
    /// All flows together, per family: at most this many samples a second (burst `totalBurst`), so that
    /// no traffic, however many flows it opens, makes the kernel copy more than that to the daemon.
    public static let total = 1000
    public static let totalBurst = 200
    public static let flows = 65_536
    /// The sampler runs after the safety net (mangle + 10) and before filter chains at priority 0 drop
    /// anything: what a filter drops was never forwarded anyway, so sampling it early only costs.
    public static let priority = "mangle + 20"

    /// The table for `group`, with chains on forward (what the gateway routes to peers) and output (what
    /// it sends itself).
    public static func script(table: String, group: UInt16, minimumPacket: Int) -> String {
        let v6Payload = minimumPacket - 40
        return """
            table inet \(table) {
                set flows4 {
                    type ipv4_addr . inet_service . ipv4_addr . inet_service
                    size \(flows)
                    flags dynamic,timeout
                    timeout 30s
                }
                set flows6 {
                    type ipv6_addr . inet_service . ipv6_addr . inet_service
                    size \(flows)
                    flags dynamic,timeout
                    timeout 30s
                }
                chain forward {
                    type filter hook forward priority \(priority); policy accept;
            \(rules(group: group, minimumPacket: minimumPacket, v6Payload: v6Payload))
                }
                chain output {
                    type filter hook output priority \(priority); policy accept;
            \(rules(group: group, minimumPacket: minimumPacket, v6Payload: v6Payload))
                }
            }

            """
    }

    static func rules(group: UInt16, minimumPacket: Int, v6Payload: Int) -> String {
        let limit = "limit rate \(rate)/second burst \(burst) packets"
        let log = "limit rate \(total)/second burst \(totalBurst) packets log group \(group) snaplen 128"
        // The first rule is one expression: everything small (every SYN, every ACK) leaves the chain
        // there, which under a SYN flood is all that matters.
        return """
                    meta length <= \(minimumPacket) accept
                    meta l4proto tcp ip length > \(minimumPacket) tcp flags & (syn | rst) == 0 update @flows4 { ip saddr . tcp sport . ip daddr . tcp dport \(limit) } \(log)
                    meta l4proto tcp ip6 length > \(v6Payload) tcp flags & (syn | rst) == 0 update @flows6 { ip6 saddr . tcp sport . ip6 daddr . tcp dport \(limit) } \(log)
            """
    }

    /// Deletes the table; nft fails when there is none (callers ignore that).
    public static func deleteScript(table: String) -> String { "delete table inet \(table)\n" }

    /// Takes the sampler table out if it is there (the daemon at stop; `rules remove` after a daemon that
    /// was killed); true when there was one.
    @discardableResult
    public static func remove(table: String) -> Bool {
        guard let listed = try? ToolRunner.run(["nft", "list", "table", "inet", table], timeout: 10), listed.status == 0 else { return false }
        _ = try? ToolRunner.run(["nft", "-f", "-"], input: deleteScript(table: table))
        return true
    }

    /// Flushes the table's rules and set elements if it is there, keeping its chains: nothing is sampled
    /// any more, and no hook is unregistered (which would drop every packet queued in the namespace).
    public static func empty(table: String) {
        guard let listed = try? ToolRunner.run(["nft", "list", "table", "inet", table], timeout: 10), listed.status == 0 else { return }
        _ = try? ToolRunner.run(["nft", "flush", "table", "inet", table], timeout: 10)
    }

    /// Every instance's sampler table in this namespace (`rules remove --all-instances`).
    public static func removeAll() {
        guard let tables = try? ToolRunner.run(["nft", "list", "tables", "inet"], timeout: 10), tables.status == 0 else { return }
        for line in tables.output.split(separator: "\n") {
            guard let table = line.split(separator: " ").last, table.hasPrefix("mssclamp_sample") else { continue }
            remove(table: String(table))
        }
    }
}
