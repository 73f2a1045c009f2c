import MSSPolicy
import Testing

@testable import MSSRules

/// What `explain` reports the kernel safety net holds for an address, read from nft's own listing.
@Suite("Safety net listing lookup")
struct NftListingLookupTests {
    static let listing = """
        table inet mssclamp_net {
        	map peers4 {
        		type ipv4_addr : verdict
        		flags interval
        		elements = { 10.0.0.0/8 : jump clamp_1380, 10.9.0.3 : jump clamp_1288,
        			     192.0.2.0-192.0.2.9 : continue }
        	}
        	map peers6 {
        		type ipv6_addr : verdict
        		flags interval
        		elements = { 2001:db8:9::/48 : jump clamp_1360 }
        	}
        }
        """

    static func held(_ address: String) -> [String] {
        NftListingLookup.elements(holding: try! IPPrefix(parsing: address), in: listing)
    }

    @Test func findsAddressesPrefixesAndRanges() {
        #expect(Self.held("10.9.0.3") == ["10.0.0.0/8 : jump clamp_1380", "10.9.0.3 : jump clamp_1288"])
        #expect(Self.held("10.1.2.3") == ["10.0.0.0/8 : jump clamp_1380"])
        #expect(Self.held("192.0.2.9") == ["192.0.2.0-192.0.2.9 : continue"])
        #expect(Self.held("192.0.2.10").isEmpty)
        #expect(Self.held("2001:db8:9::5") == ["2001:db8:9::/48 : jump clamp_1360"])
        #expect(Self.held("2001:db8:a::5").isEmpty)
    }
}
