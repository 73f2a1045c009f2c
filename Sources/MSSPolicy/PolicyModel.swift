// The policy model: what a policy file (or a `peer add`) says, once validated. Reading the TOML is
// TOMLReader.swift's, validating PolicyValidation.swift's, loading a file PolicyFile.swift's, and
// compiling it for the packet path PolicySnapshot.swift's.

/// One problem in a policy file (or in a `peer add` request, whose "file" is the request).
public struct PolicyDiagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    /// The key, qualified by its table: `defaults.mss4`, `peer "azure".match`.
    public var key: String
    public var message: String

    public init(file: String, line: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        return key.isEmpty ? "\(place): \(message)" : "\(place): \(key): \(message)"
    }
}

/// A rejected policy: every problem found.
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    public var diagnostics: [PolicyDiagnostic]

    public init(_ diagnostics: [PolicyDiagnostic]) { self.diagnostics = diagnostics }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// How a peer's ceiling is given.
public enum PeerCeiling: Sendable, Hashable {
    /// `mss = N` (and optionally `mss6 = N`).
    case fixed(Ceilings)
    /// `mss = "none"`: never clamp this peer's packets (unless the other end's peer has a ceiling).
    case none
    /// `link_mtu` + `encap`: computed by the overhead calculator.
    case derived(linkMTU: Int, encapsulation: [String], cipher: String?, integrity: String?, ceilings: Ceilings)
    /// A peer of an `mss = "auto"` template: measured, provisional while measuring, or the fallback; `note`
    /// says which and when.
    case measured(Ceilings, note: String)
    /// An address's own ceiling, lowered from its peer's after a black hole was seen toward it
    /// (`DetectedCeiling`); `note` gives the evidence and the expiry.
    case detected(Ceilings, note: String)

    /// The ceilings per family (nil: no clamp).
    public var ceilings: Ceilings {
        switch self {
        case .fixed(let ceilings): ceilings
        case .none: Ceilings(ipv4: nil, ipv6: nil)
        case .derived(_, _, _, _, let ceilings): ceilings
        case .measured(let ceilings, _): ceilings
        case .detected(let ceilings, _): ceilings
        }
    }
}

/// Where a peer came from.
public enum PeerOrigin: Sendable, Hashable {
    case file(String, line: Int)
    /// Added at run time through the control socket.
    case live
    /// Made by a template from a VPN's peers (a WireGuard peer, a learned address).
    case source(template: String, detail: String)
}

/// A `[[peer]]`: what it matches and its ceiling.
public struct PeerDefinition: Sendable, Hashable {
    public var name: String
    /// Prefixes (canonical text): the peer claims a packet whose source or destination is inside one.
    public var match: [IPPrefix]
    /// Only packets that came in on this interface (NFQUEUE's indev).
    public var inInterface: String?
    /// Only packets that leave on this interface (NFQUEUE's outdev).
    public var outInterface: String?
    /// Only packets whose mark, masked, equals this value.
    public var fwmark: FirewallMark?
    public var ceiling: PeerCeiling
    public var origin: PeerOrigin
    /// The black-hole watch may lower its addresses' ceilings (`detect`, default true).
    public var detect = true

    public init(
        name: String, match: [IPPrefix], inInterface: String? = nil, outInterface: String? = nil,
        fwmark: FirewallMark? = nil, ceiling: PeerCeiling, origin: PeerOrigin = .live
    ) {
        self.name = name
        self.match = match
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.fwmark = fwmark
        self.ceiling = ceiling
        self.origin = origin
    }

    /// A peer name: letters, digits and `.-_:@`, 1-64 characters, so it is safe in logs, metrics labels
    /// and the file it may be saved to.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_:@".unicodeScalars.contains($0))
            }
    }
}

/// `fwmark = 0x10` or `fwmark = "0x10/0xff"`.
public struct FirewallMark: Sendable, Hashable, CustomStringConvertible, BitwiseCopyable {
    public var value: UInt32
    public var mask: UInt32

    public init(value: UInt32, mask: UInt32 = 0xffff_ffff) {
        self.value = value
        self.mask = mask
    }

    @inlinable public func matches(_ mark: UInt32) -> Bool { mark & mask == value }

    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let value = Self.number(parts[0]) else { return nil }
        let mask = parts.count == 2 ? Self.number(parts[1]) : 0xffff_ffff
        guard let mask, value & ~mask == 0 else { return nil }
        self.init(value: value, mask: mask)
    }

    private static func number(_ text: Substring) -> UInt32? {
        text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
    }

    public var description: String {
        mask == 0xffff_ffff ? "0x" + String(value, radix: 16) : "0x\(String(value, radix: 16))/0x\(String(mask, radix: 16))"
    }
}

/// `[queue]`: settings `run` and `rules` take from the file unless given on the command line.
public struct QueueSettings: Sendable, Hashable {
    /// "N" or "N-M".
    public var num: String?
    public var failOpen: Bool?
    public var maxlen: Int?
    public var batch: Int?
    public var hooks: [String]?
    public var cpuFanout: Bool?
    /// SYNs per second the queue takes; while more come, the daemon sheds: it queues a sample and the
    /// kernel safety net clamps the rest (0: never shed).
    public var rate: Int?
    /// How many SYNs above the rate the queue takes before shedding starts.
    public var burst: Int?
    /// The instance name (default: the queue range).
    public var instance: String?
    /// The instance's scope: only SYNs that enter or leave through these interfaces are queued and met
    /// by its safety net (nil: every SYN; at most one such instance per host).
    public var interfaces: [String]?

    public init() {}
}

/// A validated policy file.
public struct PolicyConfiguration: Sendable, Hashable {
    /// The file it was read from (nil when built from command-line options).
    public var file: String?
    public var queue = QueueSettings()
    public var defaults: Ceilings
    public var insertMissing: Bool
    /// Drop malformed SYNs instead of accepting them unmodified.
    public var dropMalformed = false
    /// The control socket path.
    public var controlSocket: String
    public var peers: [PeerDefinition]
    /// The file held no table and no key (only comments and blank lines, or nothing at all).
    public var isEmptyDocument = false
    /// `[control] socket` was given (else the instance's default applies).
    public var controlSocketGiven = false
    /// `[control] group`: members may use the socket for `learn-address` (socket 0660, directory 0750).
    public var controlGroup: String?
    /// `[[peer]]` templates (`wireguard`, `learn_address`, `strongswan`): they make peers; they match nothing
    /// themselves.
    public var templates: [PeerTemplate] = []
    /// `[strongswan] socket`: charon's VICI socket, which strongSwan templates follow.
    public var strongswanSocket = Self.defaultStrongSwanSocket

    /// charon's own default VICI socket (strongSwan's `charon.plugins.vici.socket`).
    public static let defaultStrongSwanSocket = "/var/run/charon.vici"
    /// The default control socket: root-only directory under /run.
    public static let defaultControlSocket = "/run/mssclamp/control.sock"
    /// Without `[defaults]`: 1360, the conservative IPsec value (ESP tunnel + NAT-T with the strongest
    /// ciphers fits, see docs/overhead.md), and 20 less for IPv6's larger header.
    public static let defaultCeilings = Ceilings(ipv4: 1360, ipv6: Ceilings.ipv6Default(forIPv4: 1360))

    public init(
        file: String? = nil, defaults: Ceilings = Self.defaultCeilings, insertMissing: Bool = true,
        controlSocket: String = Self.defaultControlSocket, peers: [PeerDefinition] = []
    ) {
        self.file = file
        self.defaults = defaults
        self.insertMissing = insertMissing
        self.controlSocket = controlSocket
        self.peers = peers
    }
}

extension PeerCeiling {
    /// "mss 1300/1280", "no clamp", "1500 ipsec-esp-tunnel+nat-t -> 1360/1340".
    public var summary: String {
        switch self {
        case .fixed(let ceilings): "mss \(ceilings)"
        case .none: "no clamp"
        case .derived(let mtu, let encapsulation, let cipher, let integrity, let ceilings):
            "link \(mtu) \(([encapsulation.joined(separator: "+")] + [cipher, integrity].compactMap { $0 }).joined(separator: " ")) -> mss \(ceilings)"
        case .measured(let ceilings, let note): "auto \(ceilings) (\(note))"
        case .detected(let ceilings, let note): "detected \(ceilings) (\(note))"
        }
    }
}
