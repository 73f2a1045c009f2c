import Foundation
import MSSWire

/// Which iptables is active: the nf_tables backend (`iptables-nft`) or the legacy one. Rules must go
/// through the same one the system uses, or they land in a table nobody looks at.
public enum IptablesVariant: String, Sendable {
    case nft
    case legacy

    /// The one detector, for `rules` and `run --install-rules` alike. `MSSCLAMP_IPTABLES=nft|legacy`
    /// overrides it (for hosts whose `iptables` alternative points elsewhere than the rules in use, and for
    /// tests that exercise both); otherwise it reads where the `iptables` command resolves to
    /// (xtables-nft-multi or xtables-legacy-multi, through Debian's alternatives).
    ///
    /// It runs nothing: the daemon asks before it drops capabilities, when no other thread may exist yet,
    /// so the detector that ran `iptables -V` (and fell back to legacy) could not serve it. The fallback
    /// kept is the daemon's, nf_tables, when the command's path names neither: nf_tables is the default
    /// backend of iptables since 1.8 on every distribution mssclamp packages for, and a wrong guess shows
    /// at once (the tool's error names it). The tests pin the variant with MSSCLAMP_IPTABLES or run on an
    /// iptables-nft host, where both old detectors agreed.
    /// - Throws: `RuleError` (exit 64) when MSSCLAMP_IPTABLES is neither nft nor legacy.
    public static func detect() throws(RuleError) -> IptablesVariant {
        if let forced = ProcessInfo.processInfo.environment["MSSCLAMP_IPTABLES"] {
            guard let variant = IptablesVariant(rawValue: forced) else {
                throw RuleError("MSSCLAMP_IPTABLES must be nft or legacy, got '\(forced)'", exitCode: 64)
            }
            return variant
        }
        return resolvedCommand() ?? .nft
    }

    /// The variant the `iptables` command resolves to; nil when no path names one.
    static func resolvedCommand() -> IptablesVariant? {
        for directory in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            guard let resolved = realpath(directory + "/iptables", nil) else { continue }
            defer { free(resolved) }
            let target = String(cString: resolved)
            if target.contains("legacy") { return .legacy }
            if target.contains("nft") { return .nft }
        }
        return nil
    }

    /// The tool name, for example `ip6tables-nft-restore`.
    public func tool(_ family: IPFamily, _ verb: String) -> String {
        "\(family.iptablesCommand)-\(rawValue)" + (verb.isEmpty ? "" : "-\(verb)")
    }
}
