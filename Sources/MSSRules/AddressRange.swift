import MSSPolicy
import MSSWire

/// Addresses of a family as nft prints them in sets and maps.
extension IPFamily {
    /// "a.b.c.d/len" when the range is one prefix, "a-b" otherwise.
    func format(_ range: ClosedRange<UInt128>) -> String {
        let bits = self == .ipv4 ? 32 : 128
        let size = range.upperBound &- range.lowerBound &+ 1
        if size != 0, size & (size &- 1) == 0, range.lowerBound % size == 0 {
            let length = bits - size.trailingZeroBitCount
            return "\(text(range.lowerBound))/\(length)"
        }
        if size == 0 { return "\(text(0))/0" }  // the whole IPv6 space wraps the count
        return "\(text(range.lowerBound))-\(text(range.upperBound))"
    }

    func text(_ address: UInt128) -> String {
        if self == .ipv4 {
            let value = UInt32(truncatingIfNeeded: address)
            return "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
        }
        return (0..<8).map { String(UInt16(truncatingIfNeeded: address >> (112 - 16 * $0)), radix: 16) }
            .joined(separator: ":")
    }
}

/// A prefix as an address range in 128 bits (IPv4 in the low 32).
struct AddressRange {
    var family: IPFamily
    var range: ClosedRange<UInt128>
    var length: Int

    init?(_ prefix: IPPrefix) {
        switch prefix {
        case .v4(let p):
            let hostBits = 32 - p.length
            let start = UInt128(p.address)
            family = .ipv4
            range = start...(start | (hostBits == 0 ? 0 : (UInt128(1) << hostBits) - 1))
            length = p.length
        case .v6(let p):
            let hostBits = 128 - p.length
            family = .ipv6
            range = p.address...(p.address | (hostBits == 0 ? 0 : hostBits == 128 ? UInt128.max : (UInt128(1) << hostBits) - 1))
            length = p.length
        }
    }
}
