import MSSPolicy
import Testing

/// Issue 22: an SA's ceiling from its negotiated proposal, by the same arithmetic as `mssclamp calc`.
@Suite("IPsec proposal ceilings")
struct IPsecProposalTests {
    static func proposal(_ encryption: String?, _ integrity: String? = nil, keySize: Int? = 256, udp: Bool = true, ipv6: Bool = false)
        -> IPsecProposal
    {
        IPsecProposal(encryption: encryption, keySize: keySize, integrity: integrity, udpEncapsulated: udp, outerIPv6: ipv6)
    }

    @Test func theLabsTwoProposalsOnA1400Link() throws {
        // 1400 - 20 IPv4 - 8 UDP - 8 ESP - 8 IV - 16 ICV = 1340, padded to 4, - 2 trailer = 1338 -> MSS 1298.
        let gcm = try Self.proposal("AES_GCM_16").ceiling(linkMTU: 1400)
        #expect(gcm.ceiling.ceilings == Ceilings(ipv4: 1298, ipv6: 1278) && gcm.assumed == nil)
        // 1400 - 20 - 8 - 8 - 16 IV - 16 ICV = 1332, padded to 16 = 1328, - 2 = 1326 -> MSS 1286.
        let cbc = try Self.proposal("AES_CBC", "HMAC_SHA2_256_128").ceiling(linkMTU: 1400)
        #expect(cbc.ceiling.ceilings == Ceilings(ipv4: 1286, ipv6: 1266) && cbc.assumed == nil)
        #expect(cbc.ceiling.summary == "link 1400 ipsec-esp-tunnel+nat-t aes-cbc-256 sha256-128 -> mss 1286/1266")
    }

    @Test func eachFieldOfTheSAMovesTheCeiling() throws {
        func mss(_ proposal: IPsecProposal, _ mtu: Int = 1500) throws -> UInt16? { try proposal.ceiling(linkMTU: mtu).ceiling.ceilings.ipv4 }
        let base = try mss(Self.proposal("AES_GCM_16"))
        #expect(base == 1398)
        // Without NAT-T, 8 bytes more (but GCM pads to 4: 1500-20-8-8-16 = 1448 -> 1446 -> 1406).
        #expect(try mss(Self.proposal("AES_GCM_16", udp: false)) == 1406)
        // An IPv6 outer header takes 20 more.
        #expect(try mss(Self.proposal("AES_GCM_16", ipv6: true)) == 1378)
        // A larger ICV (SHA-512's 32) lowers it; the key size of a CBC cipher does not.
        #expect(try mss(Self.proposal("AES_CBC", "HMAC_SHA2_512_256")) == 1366)
        #expect(try mss(Self.proposal("AES_CBC", "HMAC_SHA2_512_256", keySize: 128)) == 1366)
        // Transport mode keeps the inner header.
        var transport = Self.proposal("AES_GCM_16")
        transport.mode = "TRANSPORT"
        #expect(try transport.ceiling(linkMTU: 1500).ceiling.summary.contains("ipsec-esp-transport"))
    }

    @Test func unknownAlgorithmsTakeTheWorstCaseOfTheirFamilyAndSaySo() throws {
        // AES-CCM is an AEAD calc does not list: as AES-GCM (IV 8, ICV 16), the largest AEAD overhead.
        let ccm = try Self.proposal("AES_CCM_16").ceiling(linkMTU: 1400)
        #expect(ccm.ceiling.ceilings.ipv4 == 1298)
        #expect(ccm.assumed?.contains("AES_CCM_16 is not in calc's tables") == true)
        // A block cipher calc does not list: as AES-CBC (IV 16, block 16); its integrity is known.
        let camellia = try Self.proposal("CAMELLIA_CBC", "HMAC_SHA2_256_128").ceiling(linkMTU: 1400)
        #expect(camellia.ceiling.ceilings.ipv4 == 1286 && camellia.assumed?.contains("CAMELLIA_CBC") == true)
        // An unknown integrity algorithm: SHA-512's 32-byte ICV.
        let integrity = try Self.proposal("AES_CBC", "HMAC_SHA2_256_96").ceiling(linkMTU: 1400)
        #expect(integrity.ceiling.ceilings.ipv4 == 1270 && integrity.assumed?.contains("HMAC_SHA2_256_96") == true)
        // Never above what the known algorithms of the family give.
        for known in ["AES_GCM_16", "CHACHA20_POLY1305"] {
            #expect(try Self.proposal(known).ceiling(linkMTU: 1400).ceiling.ceilings.ipv4! >= ccm.ceiling.ceilings.ipv4!)
        }
        // A link too small for anything is an error, not a negative MSS.
        #expect(throws: OverheadError.self) { try Self.proposal("AES_GCM_16").ceiling(linkMTU: 100) }
    }
}
