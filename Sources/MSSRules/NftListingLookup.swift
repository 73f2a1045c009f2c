import MSSPolicy
import MSSWire

/// Which elements of a safety net's listing hold an address: what `explain` shows as what the kernel
/// holds for it. Reads the verdict-map elements nft prints (`10.9.0.3 : jump clamp_1288`,
/// `10.0.0.0/8 : continue`, `10.9.0.4-10.9.0.9 : jump clamp_1380`) and the set elements of conditional
/// peers, and keeps those whose address, prefix or range contains the address.
public enum NftListingLookup {
    public static func elements(holding address: IPPrefix, in listing: String) -> [String] {
        guard let target = AddressRange(address) else { return [] }
        var found: [String] = []
        for match in listing.matches(of: /([0-9A-Fa-f:.]+(?:\/[0-9]+|-[0-9A-Fa-f:.]+)?)\s*:\s*(jump clamp_[0-9]+|continue)/) {
            let key = String(match.output.1)
            guard let range = range(key), range.family == target.family, range.range.contains(target.range.lowerBound) else { continue }
            found.append("\(key) : \(match.output.2)")
        }
        return found
    }

    /// "a", "a/len" or "a-b" as a range.
    static func range(_ text: String) -> AddressRange? {
        let bounds = text.split(separator: "-", maxSplits: 1).map(String.init)
        guard let low = try? IPPrefix(parsing: bounds[0]), var range = AddressRange(low) else { return nil }
        if bounds.count == 2 {
            guard let high = try? IPPrefix(parsing: bounds[1]), let upper = AddressRange(high), upper.family == range.family,
                range.range.lowerBound <= upper.range.upperBound
            else { return nil }
            range.range = range.range.lowerBound...upper.range.upperBound
        }
        return range
    }
}
