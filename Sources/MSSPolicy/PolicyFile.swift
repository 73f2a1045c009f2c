// The policy file: loading and validating it into a `PolicyConfiguration`. Every error names the file,
// the line and the key; all errors of a file are collected, and nothing of a bad file is used.

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

/// The MSS values a TCP MSS option may sensibly carry: 88 is the smallest the Linux stack accepts
/// (TCP_MIN_MSS), 65495 is the loopback MTU 65535 minus 40.
public let validMSS = 88...65495

/// How a peer's ceiling is given.
public enum PeerCeiling: Sendable, Hashable {
    /// `mss = N` (and optionally `mss6 = N`).
    case fixed(Ceilings)
    /// `mss = "none"`: never clamp this peer's packets (unless the other end's peer has a ceiling).
    case none
    /// `link_mtu` + `encap`: computed by the overhead calculator.
    case derived(linkMTU: Int, encapsulation: [String], cipher: String?, integrity: String?, ceilings: Ceilings)

    /// The ceilings per family (nil: no clamp).
    public var ceilings: Ceilings {
        switch self {
        case .fixed(let ceilings): ceilings
        case .none: Ceilings(ipv4: nil, ipv6: nil)
        case .derived(_, _, _, _, let ceilings): ceilings
        }
    }
}

/// Where a peer came from.
public enum PeerOrigin: Sendable, Hashable {
    case file(String, line: Int)
    /// Added at run time through the control socket.
    case live
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
public struct FirewallMark: Sendable, Hashable, CustomStringConvertible {
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

    /// The default control socket: root-only directory under /run.
    public static let defaultControlSocket = "/run/mssclamp/control.sock"
    /// Without `[defaults]`: 1360, the conservative IPsec value (ESP tunnel + NAT-T with the strongest
    /// ciphers fits, see docs/overhead.md), and 20 less for IPv6's larger header.
    public static let defaultCeilings = Ceilings(ipv4: 1360, ipv6: 1340)

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

    /// Parses and validates policy text.
    /// - Parameter file: the name used in diagnostics.
    /// - Throws: every problem found, each with file, line and key.
    public static func parse(_ text: String, file: String) throws(PolicyError) -> PolicyConfiguration {
        let document: TOMLDocument
        do {
            document = try TOMLSubsetParser(text).parse()
        } catch {
            throw PolicyError([PolicyDiagnostic(file: file, line: error.line, key: "", message: error.message)])
        }
        var reader = PolicyReader(file: file)
        let configuration = reader.read(document)
        guard reader.diagnostics.isEmpty else { throw PolicyError(reader.diagnostics) }
        return configuration
    }

    /// Validates peers as a set: unique names and no prefix claimed by two peers.
    /// - Parameter file: the name for peers without a file line.
    public static func conflicts(in peers: [PeerDefinition], file: String) -> [PolicyDiagnostic] {
        var diagnostics: [PolicyDiagnostic] = []
        var names: [String: PeerDefinition] = [:]
        var owners: [IPPrefix: PeerDefinition] = [:]
        func place(_ peer: PeerDefinition) -> (String, Int) {
            switch peer.origin {
            case .file(let name, let line): (name, line)
            case .live: (file, 0)
            }
        }
        for peer in peers {
            let (where_, line) = place(peer)
            if let other = names[peer.name] {
                let (otherFile, otherLine) = place(other)
                diagnostics.append(
                    PolicyDiagnostic(
                        file: where_, line: line, key: "peer \"\(peer.name)\".name",
                        message: "peer name already used at \(otherFile):\(otherLine)"))
            } else {
                names[peer.name] = peer
            }
            for prefix in Set(peer.match) {
                if let other = owners[prefix], other.name != peer.name {
                    let (otherFile, otherLine) = place(other)
                    diagnostics.append(
                        PolicyDiagnostic(
                            file: where_, line: line, key: "peer \"\(peer.name)\".match",
                            message: "prefix \(prefix) is already claimed by peer \"\(other.name)\" "
                                + "(\(otherFile):\(otherLine), \(other.ceiling.summary)); a prefix can "
                                + "belong to one peer only"))
                } else {
                    owners[prefix] = peer
                }
            }
        }
        return diagnostics
    }
}

extension PeerCeiling {
    /// "mss 1300/1280", "no clamp", "1500 ipsec-esp-tunnel+nat-t -> 1360/1340".
    public var summary: String {
        func text(_ ceilings: Ceilings) -> String {
            "\(ceilings.ipv4.map(String.init) ?? "none")/\(ceilings.ipv6.map(String.init) ?? "none")"
        }
        switch self {
        case .fixed(let ceilings): return "mss \(text(ceilings))"
        case .none: return "no clamp"
        case .derived(let mtu, let encapsulation, _, _, let ceilings):
            return "link \(mtu) \(encapsulation.joined(separator: "+")) -> mss \(text(ceilings))"
        }
    }
}

/// Reads a parsed document, collecting diagnostics.
struct PolicyReader {
    let file: String
    var diagnostics: [PolicyDiagnostic] = []

    init(file: String) { self.file = file }

    static let sections: [String: Set<String>] = [
        "queue": ["num", "fail_open", "maxlen", "batch", "hooks", "cpu_fanout"],
        "defaults": ["mss4", "mss6", "insert_missing", "malformed"],
        "control": ["socket"],
    ]
    static let peerKeys: Set<String> = [
        "name", "match", "in_interface", "out_interface", "fwmark", "mss", "mss6", "link_mtu", "encap", "cipher",
        "integrity",
    ]

    mutating func fail(_ line: Int, _ key: String, _ message: String) {
        diagnostics.append(PolicyDiagnostic(file: file, line: line, key: key, message: message))
    }

    mutating func read(_ document: TOMLDocument) -> PolicyConfiguration {
        var configuration = PolicyConfiguration(file: file)
        for entry in document.root.entries {
            fail(entry.line, entry.key, "keys belong in a table ([queue], [defaults], [control] or [[peer]])")
        }
        for (table, isArray) in document.tables {
            if table.name == "peer" {
                guard isArray else {
                    fail(table.line, "peer", "peers are [[peer]] (an array of tables), not [peer]")
                    continue
                }
                if let peer = readPeer(table) { configuration.peers.append(peer) }
                continue
            }
            guard let keys = Self.sections[table.name], !isArray else {
                let known = (Self.sections.keys.sorted().map { "[\($0)]" } + ["[[peer]]"]).joined(separator: ", ")
                fail(table.line, table.name, "unknown table; known: \(known)\(suggestion(table.name, Set(Self.sections.keys).union(["peer"])))")
                continue
            }
            for entry in table.entries where !keys.contains(entry.key) {
                fail(entry.line, "\(table.name).\(entry.key)", "unknown key\(suggestion(entry.key, keys))")
            }
            switch table.name {
            case "queue": readQueue(table, into: &configuration.queue)
            case "defaults": readDefaults(table, into: &configuration)
            default:
                if let entry = table["socket"], let path = string(entry, "control.socket") {
                    if path.hasPrefix("/") {
                        configuration.controlSocket = path
                    } else {
                        fail(entry.line, "control.socket", "must be an absolute path, got '\(path)'")
                    }
                }
            }
        }
        diagnostics += PolicyConfiguration.conflicts(in: configuration.peers, file: file)
        return configuration
    }

    mutating func readQueue(_ table: TOMLTable, into queue: inout QueueSettings) {
        if let entry = table["num"] {
            switch entry.value.kind {
            case .integer(let number) where (0...65535).contains(number): queue.num = String(number)
            case .string(let text) where QueueNumbers.isValid(text): queue.num = text
            default: fail(entry.line, "queue.num", "must be a queue number N or a range \"N-M\" within 0-65535")
            }
        }
        if let entry = table["fail_open"] { queue.failOpen = boolean(entry, "queue.fail_open") }
        if let entry = table["cpu_fanout"] { queue.cpuFanout = boolean(entry, "queue.cpu_fanout") }
        if let entry = table["maxlen"] { queue.maxlen = integer(entry, "queue.maxlen", in: 1...1_000_000) }
        if let entry = table["batch"] { queue.batch = integer(entry, "queue.batch", in: 1...1024) }
        if let entry = table["hooks"] {
            let valid: Set<String> = ["forward", "output", "prerouting", "postrouting"]
            if let hooks = strings(entry, "queue.hooks") {
                for hook in hooks where !valid.contains(hook) {
                    fail(entry.line, "queue.hooks", "unknown hook '\(hook)'; use forward, output, prerouting, postrouting")
                }
                queue.hooks = hooks
            }
        }
    }

    mutating func readDefaults(_ table: TOMLTable, into configuration: inout PolicyConfiguration) {
        var ipv4 = configuration.defaults.ipv4
        var ipv6: UInt16?? = nil
        if let entry = table["mss4"] {
            if entry.value.kind == .string("none") { ipv4 = nil } else { ipv4 = mss(entry, "defaults.mss4", allowNone: true) ?? ipv4 }
        }
        if let entry = table["mss6"] {
            if entry.value.kind == .string("none") {
                ipv6 = .some(nil)
            } else if let value = mss(entry, "defaults.mss6", allowNone: true) {
                ipv6 = .some(value)
            }
        }
        configuration.defaults = Ceilings(ipv4: ipv4, ipv6: ipv6 ?? ipv4.map { max(UInt16(validMSS.lowerBound), $0 &- 20) })
        if let entry = table["insert_missing"], let value = boolean(entry, "defaults.insert_missing") {
            configuration.insertMissing = value
        }
        if let entry = table["malformed"], let value = string(entry, "defaults.malformed") {
            switch value {
            case "accept": configuration.dropMalformed = false
            case "drop": configuration.dropMalformed = true
            default: fail(entry.line, "defaults.malformed", "must be \"accept\" or \"drop\", got \"\(value)\"")
            }
        }
    }

    mutating func readPeer(_ table: TOMLTable) -> PeerDefinition? {
        let errorsBefore = diagnostics.count
        var name = "#\(table.line)"
        if let entry = table["name"], let value = string(entry, "peer.name") {
            if PeerDefinition.isValidName(value) {
                name = value
            } else {
                fail(entry.line, "peer.name", "'\(value)' is not a valid name (1-64 of letters, digits, . - _ : @)")
            }
        } else if table["name"] == nil {
            fail(table.line, "peer.name", "every [[peer]] needs a name")
        }
        let label = "peer \"\(name)\""
        for entry in table.entries where !Self.peerKeys.contains(entry.key) {
            fail(entry.line, "\(label).\(entry.key)", "unknown key\(suggestion(entry.key, Self.peerKeys))")
        }
        var prefixes: [IPPrefix] = []
        if let entry = table["match"] {
            let texts: [String]?
            if case .string(let single) = entry.value.kind { texts = [single] } else { texts = strings(entry, "\(label).match") }
            for text in texts ?? [] {
                do {
                    prefixes.append(try IPPrefix(parsing: text))
                } catch {
                    fail(entry.line, "\(label).match", "bad prefix '\(text)': \(error)")
                }
            }
        }
        var inInterface: String?
        var outInterface: String?
        for (key, slot) in [("in_interface", 0), ("out_interface", 1)] {
            guard let entry = table[key], let value = string(entry, "\(label).\(key)") else { continue }
            // IFNAMSIZ is 16 including the terminating zero.
            guard !value.isEmpty, value.utf8.count < 16, !value.contains("/"), !value.contains(" ") else {
                fail(entry.line, "\(label).\(key)", "'\(value)' is not an interface name (1-15 bytes, no '/' or space)")
                continue
            }
            if slot == 0 { inInterface = value } else { outInterface = value }
        }
        var mark: FirewallMark?
        if let entry = table["fwmark"] {
            switch entry.value.kind {
            case .integer(let value) where (0...Int(UInt32.max)).contains(value):
                mark = FirewallMark(value: UInt32(value))
            case .string(let text) where FirewallMark(parsing: text) != nil:
                mark = FirewallMark(parsing: text)
            default:
                fail(entry.line, "\(label).fwmark", "must be a 32-bit mark (0x10) or \"VALUE/MASK\" (\"0x10/0xff\")")
            }
        }
        if prefixes.isEmpty && inInterface == nil && outInterface == nil && mark == nil && table["match"] == nil {
            fail(table.line, "\(label).match", "a peer needs match, in_interface, out_interface or fwmark")
        }
        let ceiling = readCeiling(table, label: label)
        guard diagnostics.count == errorsBefore, let ceiling else { return nil }
        return PeerDefinition(
            name: name, match: prefixes, inInterface: inInterface, outInterface: outInterface, fwmark: mark,
            ceiling: ceiling, origin: .file(file, line: table.line))
    }

    mutating func readCeiling(_ table: TOMLTable, label: String) -> PeerCeiling? {
        let mssEntry = table["mss"]
        let mtuEntry = table["link_mtu"]
        let derivedKeys = ["link_mtu", "encap", "cipher", "integrity"].compactMap { table[$0] }
        if let mssEntry, let first = derivedKeys.first {
            fail(first.line, "\(label).\(first.key)", "give either mss or link_mtu + encap, not both")
            _ = mssEntry
            return nil
        }
        if let mssEntry {
            // "none" per family: `mss = "none"` alone exempts the peer; with `mss6 = N` only IPv6 is clamped.
            let ipv4: UInt16?
            if mssEntry.value.kind == .string("none") {
                ipv4 = nil
            } else {
                guard let value = mss(mssEntry, "\(label).mss", allowNone: true) else { return nil }
                ipv4 = value
            }
            var ipv6 = ipv4.map { max(UInt16(validMSS.lowerBound), $0 &- 20) }
            if let entry = table["mss6"] {
                if entry.value.kind == .string("none") {
                    ipv6 = nil
                } else {
                    guard let value = mss(entry, "\(label).mss6", allowNone: true) else { return nil }
                    ipv6 = value
                }
            }
            if ipv4 == nil && ipv6 == nil { return PeerCeiling.none }
            return .fixed(Ceilings(ipv4: ipv4, ipv6: ipv6))
        }
        if let entry = table["mss6"] {
            fail(entry.line, "\(label).mss6", "mss6 needs mss")
            return nil
        }
        guard let mtuEntry else {
            if let first = derivedKeys.first {
                fail(first.line, "\(label).link_mtu", "encap needs link_mtu (the MTU of the link the tunnel runs over)")
            } else {
                fail(table.line, "\(label).mss", "a peer needs mss = N, mss = \"none\", or link_mtu + encap")
            }
            return nil
        }
        guard let linkMTU = integer(mtuEntry, "\(label).link_mtu", in: 576...65535) else { return nil }
        var names: [String] = []
        if let entry = table["encap"] {
            guard let list = strings(entry, "\(label).encap") else { return nil }
            names = list
        }
        let cipher = table["cipher"].flatMap { string($0, "\(label).cipher") }
        let integrity = table["integrity"].flatMap { string($0, "\(label).integrity") }
        do {
            let result = try OverheadCalculator.compute(
                linkMTU: linkMTU, names: names, cipher: cipher, integrity: integrity)
            guard validMSS.contains(result.mss6), validMSS.contains(result.mss4) else {
                fail(mtuEntry.line, "\(label).link_mtu", "leaves MSS \(result.mss4)/\(result.mss6), outside 88-65495")
                return nil
            }
            return .derived(
                linkMTU: linkMTU, encapsulation: names, cipher: cipher, integrity: integrity,
                ceilings: Ceilings(ipv4: UInt16(result.mss4), ipv6: UInt16(result.mss6)))
        } catch {
            let line = (table["encap"] ?? table["cipher"] ?? table["integrity"] ?? mtuEntry).line
            fail(line, "\(label).encap", "\(error)")
            return nil
        }
    }

    // MARK: typed reads

    mutating func string(_ entry: TOMLEntry, _ key: String) -> String? {
        if case .string(let value) = entry.value.kind { return value }
        fail(entry.line, key, "must be a string, got \(entry.value.typeName)")
        return nil
    }

    mutating func boolean(_ entry: TOMLEntry, _ key: String) -> Bool? {
        if case .boolean(let value) = entry.value.kind { return value }
        fail(entry.line, key, "must be true or false, got \(entry.value.typeName)")
        return nil
    }

    mutating func integer(_ entry: TOMLEntry, _ key: String, in range: ClosedRange<Int>) -> Int? {
        guard case .integer(let value) = entry.value.kind else {
            fail(entry.line, key, "must be an integer, got \(entry.value.typeName)")
            return nil
        }
        guard range.contains(value) else {
            fail(entry.line, key, "\(value) is outside \(range.lowerBound)-\(range.upperBound)")
            return nil
        }
        return value
    }

    mutating func mss(_ entry: TOMLEntry, _ key: String, allowNone: Bool = false) -> UInt16? {
        guard case .integer(let value) = entry.value.kind else {
            fail(entry.line, key, "must be an MSS (an integer within 88-65495)\(allowNone ? " or \"none\"" : ""), got \(entry.value.typeName)")
            return nil
        }
        guard validMSS.contains(value) else {
            fail(entry.line, key, "MSS \(value) is outside 88-65495")
            return nil
        }
        return UInt16(value)
    }

    mutating func strings(_ entry: TOMLEntry, _ key: String) -> [String]? {
        guard case .array(let elements) = entry.value.kind else {
            fail(entry.line, key, "must be an array of strings, got \(entry.value.typeName)")
            return nil
        }
        var result: [String] = []
        for element in elements {
            guard case .string(let text) = element.kind else {
                fail(element.line, key, "must be an array of strings, found \(element.typeName)")
                return nil
            }
            result.append(text)
        }
        return result
    }

    /// " (did you mean 'x'?)" when a known key is one or two edits away.
    func suggestion(_ key: String, _ known: Set<String>) -> String {
        let best = known.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        guard let best, best.1 <= 2 else { return "" }
        return " (did you mean '\(best.0)'?)"
    }
}

/// Levenshtein distance, for "did you mean".
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

/// Queue numbers as `run`, `rules` and the file write them: "N" or "N-M".
public enum QueueNumbers {
    public static func isValid(_ text: String) -> Bool { parse(text) != nil }

    public static func parse(_ text: String) -> ClosedRange<UInt16>? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let first = UInt16(parts[0]) else { return nil }
        guard parts.count == 2 else { return first...first }
        guard let last = UInt16(parts[1]), first <= last else { return nil }
        return first...last
    }
}
