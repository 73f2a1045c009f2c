/// One mssclamp on a host among several: everything it owns in the kernel and on disk is named after it,
/// so instances never touch each other's rules, net, liveness list or control socket.
///
/// The name defaults to the queue range ("0", "0-1"). Instance "0" keeps the names of a single-instance
/// install (chain `MSSCLAMP`, table `mssclamp_net`, `/run/mssclamp/control.sock`), so an existing setup and
/// its scripts need no change; any other instance adds its name (`MSSCLAMP-1`, `mssclamp_net_1`,
/// `/run/mssclamp/control-1.sock`).
public struct Instance: Sendable, Hashable, CustomStringConvertible {
    public let name: String

    /// The instance of queue 0.
    public static let primary = Instance(unchecked: "0")

    /// - Returns: nil unless `name` is 1-10 of letters, digits, `_` and `-` (the kernel names built from it,
    ///   chains and lists, have length limits).
    public init?(name: String) {
        guard (1...10).contains(name.utf8.count),
            name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x5f || $0 == 0x2d })
        else { return nil }
        self.name = name
    }

    init(unchecked name: String) { self.name = name }

    public var description: String { name }

    var isPrimary: Bool { name == "0" }

    /// The mangle table chain the hooks jump to.
    public var chain: String { isPrimary ? "MSSCLAMP" : "MSSCLAMP-\(name)" }
    /// The xt_recent list of the liveness switch.
    public var livenessList: String { isPrimary ? "mssclamp_alive" : "mssclamp_alive-\(name)" }
    /// The safety net's nft table (nft names: letters, digits, underscores).
    public var netTable: String { isPrimary ? "mssclamp_net" : "mssclamp_net_" + name.replacingAll("-", with: "_") }
    /// The black-hole sampler's nft table (`SamplingRules`).
    public var sampleTable: String { isPrimary ? "mssclamp_sample" : "mssclamp_sample_" + name.replacingAll("-", with: "_") }
    /// The control socket, unless the file or the command line names one.
    public var controlSocket: String {
        isPrimary ? PolicyConfiguration.defaultControlSocket : "/run/mssclamp/control-\(name).sock"
    }
}

extension QueueSettings {
    /// `instance`, else the queue range ("0", "0-1"): the instance these settings belong to.
    public var instanceValue: Instance {
        instance.flatMap(Instance.init(name:)) ?? Instance(name: range.description) ?? .primary
    }
}
