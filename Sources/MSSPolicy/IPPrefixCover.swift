// An address range as the prefixes that cover it exactly (strongSwan prints a traffic selector that is
// not one prefix as "FIRST..LAST").

extension IPPrefix {
    /// The fewest prefixes whose union is exactly "FIRST..LAST" (both of one family, FIRST <= LAST); nil
    /// when the text is not such a range.
    public static func covering(range text: String) -> [IPPrefix]? {
        guard let dots = text.firstRange(of: "..") else { return nil }
        let ends = [String(text[..<dots.lowerBound]), String(text[dots.upperBound...])]
        guard !ends[1].contains("..") else { return nil }
        if let first = IPv4Prefix.parseAddress(Substring(ends[0])), let last = IPv4Prefix.parseAddress(Substring(ends[1])),
            first <= last
        {
            return cover(UInt128(first), UInt128(last), bits: 32).map { .v4(IPv4Prefix(address: UInt32($0.start), length: $0.length)) }
        }
        if let first = IPv6Prefix.parseAddress(Substring(ends[0])), let last = IPv6Prefix.parseAddress(Substring(ends[1])),
            first <= last
        {
            return cover(first, last, bits: 128).map { .v6(IPv6Prefix(address: $0.start, length: $0.length)) }
        }
        return nil
    }

    /// Greedy: from `first`, the largest aligned block that does not pass `last`, until `last` is covered.
    static func cover(_ first: UInt128, _ last: UInt128, bits: Int) -> [(start: UInt128, length: Int)] {
        var blocks: [(UInt128, Int)] = []
        var start = first
        while true {
            // Host bits the block may have: limited by the start's alignment and by what is left.
            var hostBits = start == 0 ? bits : min(bits, start.trailingZeroBitCount)
            while hostBits > 0 {
                let end = hostBits == 128 ? UInt128.max : start | ((UInt128(1) << hostBits) - 1)
                if end <= last { break }
                hostBits -= 1
            }
            blocks.append((start, bits - hostBits))
            let end = hostBits == 128 ? UInt128.max : start | ((UInt128(1) << hostBits) - 1)
            if end >= last { return blocks }
            start = end + 1
        }
    }
}
