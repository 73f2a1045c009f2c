// The ceilings per family and the small rules about them, each defined here once: the lower of two
// ceilings, the IPv6 ceiling implied by an IPv4 one, the ceilings a link MTU allows, and how ceilings
// read as text.

import MSSWire

/// Per-family ceilings; nil means "never clamp".
public struct Ceilings: Sendable, Hashable, Codable, BitwiseCopyable, CustomStringConvertible {
    public var ipv4: UInt16?
    public var ipv6: UInt16?

    public init(ipv4: UInt16?, ipv6: UInt16?) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }

    /// The ceilings that fill, but do not exceed, packets of `linkMTU` bytes: MTU - 40 for IPv4, MTU - 60
    /// for IPv6 (`IPFamily.mss(forMTU:)`), never below the smallest valid MSS (88), so a tiny MTU still
    /// gives a ceiling the stack accepts.
    public init(linkMTU: Int) {
        func ceiling(_ family: IPFamily) -> UInt16 {
            UInt16(clamping: max(ValueRange.mss.lowerBound, family.mss(forMTU: linkMTU)))
        }
        self.init(ipv4: ceiling(.ipv4), ipv6: ceiling(.ipv6))
    }

    /// The IPv6 ceiling when only an IPv4 one is given: 20 less, for IPv6's 20 bytes larger header (the
    /// same MTU), but never below the smallest valid MSS (88).
    public static func ipv6Default(forIPv4 ipv4: UInt16) -> UInt16 {
        let headerGrowth = IPFamily.ipv6.fixedHeaderBytes - IPFamily.ipv4.fixedHeaderBytes
        return UInt16(max(ValueRange.mss.lowerBound, Int(ipv4) - headerGrowth))
    }

    @inlinable public func ceiling(for family: IPFamily) -> UInt16? { family == .ipv4 ? ipv4 : ipv6 }

    /// The lower ceiling of the two, per family; nil (no clamp) loses to any value.
    @inlinable public func lowered(by other: Ceilings) -> Ceilings {
        func low(_ a: UInt16?, _ b: UInt16?) -> UInt16? {
            switch (a, b) {
            case let (a?, b?): min(a, b)
            case let (a?, nil): a
            case let (nil, b): b
            }
        }
        return Ceilings(ipv4: low(ipv4, other.ipv4), ipv6: low(ipv6, other.ipv6))
    }

    /// "1360/1340" (IPv4/IPv6), "none" for a family that is not clamped: how every log line, report and
    /// listing shows ceilings.
    public var description: String {
        "\(ipv4.map(String.init) ?? "none")/\(ipv6.map(String.init) ?? "none")"
    }
}
