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
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber),
                part.count == 1 || part.first != "0", let byte = UInt32(part), byte <= 255
            else { return nil }
            value = value << 8 | byte
        }
        return value
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
        guard !text.isEmpty, text.allSatisfy(\.isASCII) else { return nil }
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var compressed = false
        let halves = text.components(separatedByString: "::")
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ part: Substring, allowEmbedded: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, allowEmbedded, piece.contains(".") {
                    guard let v4 = IPv4Prefix.parseAddress(piece) else { return nil }
                    result += [UInt16(v4 >> 16), UInt16(v4 & 0xffff)]
                    continue
                }
                guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        if halves.count == 2 {
            compressed = true
            guard let head = parseGroups(halves[0], allowEmbedded: false),
                let end = parseGroups(halves[1], allowEmbedded: true)
            else { return nil }
            groups = head
            tail = end
            // "::" stands for at least one zero group.
            guard groups.count + tail.count <= 7 else { return nil }
        } else {
            guard let all = parseGroups(halves[0], allowEmbedded: true), all.count == 8 else { return nil }
            groups = all
        }
        if compressed { groups += [UInt16](repeating: 0, count: 8 - groups.count - tail.count) + tail }
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

extension Substring {
    /// Splits on a multi-character separator without Foundation.
    func components(separatedByString separator: String) -> [Substring] {
        var result: [Substring] = []
        var rest = self
        while let range = rest.firstRange(of: separator) {
            result.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        result.append(rest)
        return result
    }
}
