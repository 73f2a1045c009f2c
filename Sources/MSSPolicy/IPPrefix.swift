// IPv4 and IPv6 prefixes: parsing (with the reason when the text is wrong), canonical text (RFC 5952 for
// IPv6), and loading addresses from packet bytes. No Foundation.

/// Why a prefix text was refused.
public enum PrefixError: Error, Sendable, Hashable, CustomStringConvertible {
    case badAddress(String)
    case badLength(String, maximum: Int)
    /// Bits set after the prefix length: `10.1.0.1/16`. Carries the canonical prefix.
    case hostBitsSet(String, canonical: String)

    public var description: String {
        switch self {
        case .badAddress(let text): "'\(text)' is not an IPv4 or IPv6 address"
        case .badLength(let text, let maximum): "prefix length '\(text)' is not within 0-\(maximum)"
        case .hostBitsSet(let text, let canonical): "host bits set in \(text) (did you mean \(canonical)?)"
        }
    }
}

/// An IPv4 prefix: address (host order) and length.
public struct IPv4Prefix: Sendable, Hashable, CustomStringConvertible {
    public let address: UInt32
    public let length: Int

    /// - Precondition: no bits set after `length`.
    public init(address: UInt32, length: Int) {
        precondition((0...32).contains(length) && address & ~Self.mask(length) == 0, "not a canonical prefix")
        self.address = address
        self.length = length
    }

    @inlinable public static func mask(_ length: Int) -> UInt32 { length == 0 ? 0 : ~UInt32(0) << (32 - length) }

    @inlinable public func contains(_ candidate: UInt32) -> Bool { candidate & Self.mask(length) == address }

    /// The last address inside the prefix.
    public var last: UInt32 { address | ~Self.mask(length) }

    /// A big-endian IPv4 address at `offset` (bounds validated by the caller's header view).
    @inlinable @inline(__always)
    public static func load(from bytes: UnsafeRawBufferPointer, offset: Int) -> UInt32 {
        UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Dotted quad.
    public static func text(_ address: UInt32) -> String {
        "\(address >> 24).\(address >> 16 & 0xff).\(address >> 8 & 0xff).\(address & 0xff)"
    }

    /// Parses "a.b.c.d" strictly: four decimal parts 0-255, no leading zeros (which some tools read as octal).
    public static func parseAddress(_ text: Substring) -> UInt32? {
        var utf8 = Array(text.utf8)[...]
        return parseAddress(&utf8, whole: true)
    }

    /// The dotted quad at the start of `bytes` (all of it with `whole`); consumes what it read.
    static func parseAddress(_ bytes: inout ArraySlice<UInt8>, whole: Bool) -> UInt32? {
        var value: UInt32 = 0
        for part in 0..<4 {
            if part > 0 {
                guard bytes.first == UInt8(ascii: ".") else { return nil }
                bytes = bytes.dropFirst()
            }
            var digits = 0
            var byte: UInt32 = 0
            var first: UInt8 = 0
            while let next = bytes.first, next >= 0x30 && next <= 0x39, digits < 3 {
                if digits == 0 { first = next }
                byte = byte * 10 + UInt32(next - 0x30)
                digits += 1
                bytes = bytes.dropFirst()
            }
            guard digits > 0, byte <= 255, digits == 1 || first != UInt8(ascii: "0") else { return nil }
            value = value << 8 | byte
        }
        return !whole || bytes.isEmpty ? value : nil
    }

    public var description: String { "\(Self.text(address))/\(length)" }
}

/// An IPv6 prefix: address as a 128-bit integer (first byte most significant) and length.
public struct IPv6Prefix: Sendable, Hashable, CustomStringConvertible {
    public let address: UInt128
    public let length: Int

    /// - Precondition: no bits set after `length`.
    public init(address: UInt128, length: Int) {
        precondition((0...128).contains(length) && address & ~Self.mask(length) == 0, "not a canonical prefix")
        self.address = address
        self.length = length
    }

    @inlinable public static func mask(_ length: Int) -> UInt128 { length == 0 ? 0 : ~UInt128(0) << (128 - length) }

    @inlinable public func contains(_ candidate: UInt128) -> Bool { candidate & Self.mask(length) == address }

    public var last: UInt128 { address | ~Self.mask(length) }

    /// A big-endian IPv6 address at `offset`.
    @inlinable @inline(__always)
    public static func load(from bytes: UnsafeRawBufferPointer, offset: Int) -> UInt128 {
        let high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        let low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
        return UInt128(high) << 64 | UInt128(low)
    }

    /// RFC 5952: lower case, no leading zeros, the longest run (first if tied) of two or more zero groups
    /// as "::".
    public static func text(_ address: UInt128) -> String {
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: address >> (112 - 16 * $0)) }
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            if groups[index] == 0 {
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > bestLength {
                    bestStart = index
                    bestLength = end - index
                }
                index = end
            } else {
                index += 1
            }
        }
        func hex(_ range: Range<Int>) -> String { range.map { String(groups[$0], radix: 16) }.joined(separator: ":") }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    /// Parses RFC 4291 text: eight groups, "::" once, an embedded dotted quad at the end.
    public static func parseAddress(_ text: Substring) -> UInt128? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var compressed = false
        var index = 0
        let count = bytes.count
        let colon = UInt8(ascii: ":")
        if bytes[0] == colon {
            guard count >= 2, bytes[1] == colon else { return nil }
            compressed = true
            index = 2
        }
        while index < count {
            // One piece: up to four hex digits, or a dotted quad that ends the address.
            var end = index
            var dotted = false
            while end < count && bytes[end] != colon {
                if bytes[end] == UInt8(ascii: ".") { dotted = true }
                end += 1
            }
            if dotted {
                guard end == count else { return nil }
                var slice = bytes[index..<end]
                guard let v4 = IPv4Prefix.parseAddress(&slice, whole: true) else { return nil }
                if compressed { tail += [UInt16(v4 >> 16), UInt16(v4 & 0xffff)] } else { head += [UInt16(v4 >> 16), UInt16(v4 & 0xffff)] }
                index = end
                break
            }
            guard (1...4).contains(end - index) else { return nil }
            var value: UInt16 = 0
            for byte in bytes[index..<end] {
                let digit: UInt16
                switch byte {
                case 0x30...0x39: digit = UInt16(byte - 0x30)
                case 0x41...0x46: digit = UInt16(byte - 0x41 + 10)
                case 0x61...0x66: digit = UInt16(byte - 0x61 + 10)
                default: return nil
                }
                value = value << 4 | digit
            }
            if compressed { tail.append(value) } else { head.append(value) }
            index = end
            guard index < count else { break }
            // At a colon: "::" (once), or a separator that must be followed by a piece.
            if index + 1 < count && bytes[index + 1] == colon {
                guard !compressed else { return nil }
                compressed = true
                index += 2
            } else {
                index += 1
                guard index < count else { return nil }
            }
            guard head.count + tail.count <= 8 else { return nil }
        }
        var groups: [UInt16]
        if compressed {
            // "::" stands for at least one zero group.
            guard head.count + tail.count <= 7 else { return nil }
            groups = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            groups = head
        }
        return groups.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    public var description: String { "\(Self.text(address))/\(length)" }
}

/// A prefix of either family, as a policy names it.
public enum IPPrefix: Sendable, Hashable, CustomStringConvertible {
    case v4(IPv4Prefix)
    case v6(IPv6Prefix)

    /// Parses "10.8.0.0/24", "2001:db8::/32", or a bare address (a /32 or /128).
    /// - Throws: `PrefixError` saying what is wrong; host bits after the length are an error that names
    ///   the canonical prefix, since `10.1.0.1/16` is usually a typo.
    public init(parsing text: String) throws(PrefixError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let addressText = parts[0]
        let lengthText = parts.count == 2 ? parts[1] : nil
        func length(maximum: Int) throws(PrefixError) -> Int {
            guard let lengthText else { return maximum }
            guard !lengthText.isEmpty, lengthText.count <= 3, lengthText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int(lengthText), value <= maximum
            else { throw .badLength(String(lengthText), maximum: maximum) }
            return value
        }
        if addressText.contains(":") {
            guard let address = IPv6Prefix.parseAddress(addressText) else { throw .badAddress(String(addressText)) }
            let bits = try length(maximum: 128)
            let network = address & IPv6Prefix.mask(bits)
            guard network == address else {
                throw .hostBitsSet(text, canonical: IPv6Prefix(address: network, length: bits).description)
            }
            self = .v6(IPv6Prefix(address: address, length: bits))
        } else {
            guard let address = IPv4Prefix.parseAddress(addressText) else { throw .badAddress(String(addressText)) }
            let bits = try length(maximum: 32)
            let network = address & IPv4Prefix.mask(bits)
            guard network == address else {
                throw .hostBitsSet(text, canonical: IPv4Prefix(address: network, length: bits).description)
            }
            self = .v4(IPv4Prefix(address: address, length: bits))
        }
    }

    public var description: String {
        switch self {
        case .v4(let prefix): prefix.description
        case .v6(let prefix): prefix.description
        }
    }
}

extension IPPrefix {
    public var isIPv6: Bool { if case .v6 = self { true } else { false } }

    /// A single address (/32, /128).
    public var isHost: Bool {
        switch self {
        case .v4(let prefix): prefix.length == 32
        case .v6(let prefix): prefix.length == 128
        }
    }

    /// The prefix length.
    public var length: Int {
        switch self {
        case .v4(let prefix): prefix.length
        case .v6(let prefix): prefix.length
        }
    }

    /// 0.0.0.0/0 or ::/0: every address of the family.
    public var isEverything: Bool { length == 0 }

    /// The address part as text ("10.8.0.6").
    public var address: String {
        switch self {
        case .v4(let prefix): IPv4Prefix.text(prefix.address)
        case .v6(let prefix): IPv6Prefix.text(prefix.address)
        }
    }

    /// The first address after the network address (the address itself for a host prefix): what answers
    /// for a routed prefix, usually its router.
    public var firstHost: String {
        switch self {
        case .v4(let prefix): IPv4Prefix.text(prefix.length >= 31 ? prefix.address : prefix.address + 1)
        case .v6(let prefix): IPv6Prefix.text(prefix.length >= 127 ? prefix.address : prefix.address + 1)
        }
    }
}

extension IPPrefix {
    /// Whether every address of `other` is inside this prefix (same family).
    public func covers(_ other: IPPrefix) -> Bool {
        switch (self, other) {
        case (.v4(let outer), .v4(let inner)): outer.length <= inner.length && outer.contains(inner.address)
        case (.v6(let outer), .v6(let inner)): outer.length <= inner.length && outer.contains(inner.address)
        default: false
        }
    }

    /// What a prefix that overlaps special-use space is (loopback, unspecified, multicast, ...), or nil
    /// for ordinary unicast. Such a prefix is never a VPN client's address.
    public var reservedUse: String? {
        let special = Self.specialUse.first { range, _ in
            switch (self, range) {
            case (.v4(let a), .v4(let b)): a.contains(b.address) || b.contains(a.address)
            case (.v6(let a), .v6(let b)): a.contains(b.address) || b.contains(a.address)
            default: false
            }
        }
        return special?.1
    }

    /// Special-use ranges (RFC 6890) no client of a tunnel has.
    static let specialUse: [(IPPrefix, String)] = [
        ("0.0.0.0/8", "the unspecified network"), ("127.0.0.0/8", "loopback"), ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved or broadcast"), ("::/128", "unspecified"), ("::1/128", "loopback"),
        ("::ffff:0:0/96", "IPv4-mapped"), ("ff00::/8", "multicast"),
    ].map { (try! IPPrefix(parsing: $0.0), $0.1) }
}
