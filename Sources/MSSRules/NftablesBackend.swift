import Foundation

/// Applies, removes and verifies `table inet mssclamp`.
public struct NftablesBackend: Sendable {
    /// The `inet` table this backend owns.
    public let table: String

    public init(table: String = NftablesRules.table) { self.table = table }

    static let queueProbe = """
        table inet mssclamp_probe {
        \tchain probe {
        \t\ttype filter hook forward priority mangle; policy accept;
        \t\ttcp flags & (syn | rst) == syn queue num 0 bypass
        \t}
        }

        """

    /// Whether the kernel accepts the nft `queue` statement. The check runs in nft's check mode (the
    /// kernel validates the batch and it is aborted, nothing is installed). Kernels built without
    /// CONFIG_NFT_QUEUE refuse the expression with ENOENT ("No such file or directory").
    public static func queueSupported() throws(RuleError) -> Bool {
        let result = try ToolRunner.run(["nft", "-c", "-f", "-"], input: queueProbe)
        if result.status == 0 { return true }
        if result.error.contains("No such file or directory") { return false }
        throw RuleError("nft refused the probe rule: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: 69)
    }

    public static let noQueueMessage = """
        this kernel cannot run the nftables queue backend: the nft `queue` statement is refused with \
        "No such file or directory" because the kernel is built without CONFIG_NFT_QUEUE (nft_queue). \
        Use --backend iptables (its NFQUEUE target is xt_NFQUEUE, a separate module, and works with \
        iptables-nft), or --backend nft-map to clamp in the kernel without the daemon.
        """

    /// Replaces the table atomically (one nft transaction: declare, delete, recreate).
    public func apply(_ script: String) throws(RuleError) {
        let transaction = "table inet \(table)\ndelete table inet \(table)\n" + script
        try run(transaction)
    }

    /// Runs an nft transaction (`nft -f -`): all of it or nothing.
    public func run(_ transaction: String) throws(RuleError) {
        let result = try ToolRunner.run(["nft", "-f", "-"], input: transaction)
        guard result.status == 0 else {
            throw RuleError("nft refused the rules (nothing was changed): \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: 69)
        }
    }

    public func remove() throws(RuleError) {
        guard try installedListing() != nil else { return }
        let result = try ToolRunner.run(["nft", "delete", "table", "inet", table])
        guard result.status == 0 else { throw RuleError("nft could not delete the table: \(result.error)") }
    }

    /// `nft list table inet TABLE` with counters zeroed, or nil when there is no such table.
    public func installedListing() throws(RuleError) -> String? {
        let result = try ToolRunner.run(["nft", "list", "table", "inet", table])
        guard result.status == 0 else { return nil }
        return Self.normalized(result.output)
    }

    /// How nft itself prints `script`: loaded into a private, empty network namespace and listed back.
    public func canonical(_ script: String) throws(RuleError) -> String {
        let result = try ToolRunner.run(
            ["unshare", "--net", "sh", "-c", "nft -f - && nft list table inet \(table)"], input: script)
        guard result.status == 0 else {
            throw RuleError("nft refused the rules: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))", exitCode: 69)
        }
        return Self.normalized(result.output)
    }

    static func normalized(_ listing: String) -> String {
        listing.replacingOccurrences(of: #"counter packets \d+ bytes \d+"#, with: "counter", options: .regularExpression)
            .replacingOccurrences(of: #"packets \d+ bytes \d+"#, with: "packets bytes", options: .regularExpression)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: "\n")
    }

    /// Differences between the installed table and `script` ("missing: ...", "unexpected: ...").
    public func verify(_ script: String) throws(RuleError) -> [String] {
        try differences(fromCanonical: try canonical(script))
    }

    /// Differences between the installed table and a listing `canonical` made earlier (a watcher that
    /// checks often need not load the script into a namespace each time).
    public func differences(fromCanonical expected: String) throws(RuleError) -> [String] {
        guard let installed = try installedListing() else {
            return ["table inet \(table) is missing"]
        }
        return tableDifferences(expected: expected, installed: installed)
    }
}
