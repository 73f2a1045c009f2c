// An IPsec SA's negotiated proposal, as charon names it over VICI, and the ceiling it leaves on a link:
// the same arithmetic as `mssclamp calc` (OverheadCalculator), fed from the SA instead of the operator.
// docs/overhead.md lists which SA fields decide what.

/// What one CHILD_SA negotiated: the fields of charon's `list-sas` that decide its overhead.
public struct IPsecProposal: Sendable, Hashable, CustomStringConvertible {
    /// `protocol`: "ESP" (or "AH").
    public var protocolName: String
    /// `encr-alg`, e.g. "AES_GCM_16", "AES_CBC"; nil for AH.
    public var encryption: String?
    /// `encr-keysize`, e.g. 256.
    public var keySize: Int?
    /// `integ-alg`, e.g. "HMAC_SHA2_256_128"; nil with an AEAD cipher.
    public var integrity: String?
    /// `encap = yes`: ESP in UDP (NAT-T, RFC 3948).
    public var udpEncapsulated: Bool
    /// `mode`: "TUNNEL", "TRANSPORT" or "BEET".
    public var mode: String
    /// The IKE_SA's `remote-host` is IPv6: the outer header is 40 bytes.
    public var outerIPv6: Bool

    public init(
        protocolName: String = "ESP", encryption: String?, keySize: Int?, integrity: String?,
        udpEncapsulated: Bool, mode: String = "TUNNEL", outerIPv6: Bool
    ) {
        self.protocolName = protocolName
        self.encryption = encryption
        self.keySize = keySize
        self.integrity = integrity
        self.udpEncapsulated = udpEncapsulated
        self.mode = mode
        self.outerIPv6 = outerIPv6
    }

    /// "ESP AES_GCM_16-256 in UDP, IPv4 outer", as `peer list` and the metrics show it.
    public var description: String {
        var algorithms = [encryption.map { name in keySize.map { "\(name)-\($0)" } ?? name }, integrity].compactMap { $0 }
        if algorithms.isEmpty { algorithms = ["(no algorithms)"] }
        let transport = mode.uppercased() == "TRANSPORT" ? " transport" : ""
        return "\(protocolName.uppercased())\(transport) \(algorithms.joined(separator: "/"))"
            + (udpEncapsulated ? " in UDP" : "") + (outerIPv6 ? ", IPv6 outer" : ", IPv4 outer")
    }

    /// The calculator's cipher and integrity for this SA, and what had to be assumed (nil: nothing; the
    /// algorithms are in calc's tables). An algorithm calc does not know is taken as the worst case of its
    /// family, so the ceiling is never too high: an AEAD cipher as AES-GCM's 8-byte IV and 16-byte ICV, any
    /// other cipher as AES-CBC's 16-byte IV and block, an integrity algorithm as SHA-512's 32-byte ICV.
    public func algorithms() -> (cipher: ESPCipher, integrity: ESPIntegrity?, assumed: String?) {
        guard protocolName.uppercased() == "ESP" else {
            // AH (RFC 4302) adds at most 12 + a 32-byte ICV: less than ESP's worst case, which stands for it.
            return (OverheadCalculator.worstCaseCipher, OverheadCalculator.worstCaseIntegrity,
                    "\(protocolName) is not ESP: computed as ESP's worst case")
        }
        let name = (encryption ?? "").uppercased()
        var notes: [String] = []
        let cipher: ESPCipher
        if let known = Self.cipher(name, keySize: keySize) {
            cipher = known
        } else if Self.isAEAD(name) {
            cipher = .aesGCM256
            notes.append("cipher \(encryption ?? "?") is not in calc's tables: taken as the worst AEAD case (IV 8, ICV 16)")
        } else {
            cipher = OverheadCalculator.worstCaseCipher
            notes.append("cipher \(encryption ?? "?") is not in calc's tables: taken as the worst block cipher case (IV 16, block 16)")
        }
        guard cipher.aeadICV == nil else { return (cipher, nil, notes.isEmpty ? nil : notes.joined(separator: "; ")) }
        let integrityAlgorithm: ESPIntegrity
        if let known = Self.integrity((integrity ?? "").uppercased()) {
            integrityAlgorithm = known
        } else {
            integrityAlgorithm = OverheadCalculator.worstCaseIntegrity
            notes.append("integrity \(integrity ?? "(none)") is not in calc's tables: taken as the worst case (ICV 32)")
        }
        return (cipher, integrityAlgorithm, notes.isEmpty ? nil : notes.joined(separator: "; "))
    }

    /// The layers this SA adds, as `encap` names them.
    public var encapsulation: [String] {
        (mode.uppercased() == "TRANSPORT" ? ["ipsec-esp-transport"] : ["ipsec-esp-tunnel"])
            + (udpEncapsulated ? ["nat-t"] : []) + (outerIPv6 ? ["ipv6-outer"] : [])
    }

    /// The ceiling this SA leaves on a link of `linkMTU` bytes, and what was assumed on the way.
    public func ceiling(linkMTU: Int) throws(OverheadError) -> (ceiling: PeerCeiling, assumed: String?) {
        let (cipher, integrity, assumed) = algorithms()
        let result = try OverheadCalculator.compute(
            linkMTU: linkMTU, names: encapsulation, cipher: cipher.rawValue, integrity: integrity?.rawValue)
        guard ValueRange.mss.contains(result.mss4), ValueRange.mss.contains(result.mss6) else {
            throw OverheadError("link MTU \(linkMTU) leaves MSS \(result.mss4)/\(result.mss6), \(ValueRange.mss.outside)")
        }
        let ceiling = PeerCeiling.derived(
            linkMTU: linkMTU, encapsulation: encapsulation, cipher: cipher.rawValue, integrity: integrity?.rawValue,
            ceilings: Ceilings(ipv4: UInt16(result.mss4), ipv6: UInt16(result.mss6)))
        return (ceiling, assumed)
    }

    /// charon's encryption algorithm names (strongSwan's `encryption_algorithm_names`) that calc knows.
    static func cipher(_ name: String, keySize: Int?) -> ESPCipher? {
        let bits = keySize ?? 256
        switch name {
        case "AES_GCM_16": return bits == 128 ? .aesGCM128 : bits == 192 ? .aesGCM192 : .aesGCM256
        case "AES_CBC": return bits == 128 ? .aesCBC128 : bits == 192 ? .aesCBC192 : .aesCBC256
        case "AES_CTR": return bits == 128 ? .aesCTR128 : bits == 192 ? .aesCTR192 : .aesCTR256
        case "CHACHA20_POLY1305": return .chacha20Poly1305
        case "3DES_CBC": return .tripleDESCBC
        default: return nil
        }
    }

    /// Combined-mode ciphers (RFC 5282 names: GCM, CCM, GMAC, ChaCha20-Poly1305) carry their own ICV.
    static func isAEAD(_ name: String) -> Bool {
        ["_GCM_", "_CCM_", "GMAC", "POLY1305"].contains { name.contains($0) }
    }

    /// charon's integrity algorithm names (`integrity_algorithm_names`) that calc knows.
    static func integrity(_ name: String) -> ESPIntegrity? {
        switch name {
        case "HMAC_SHA1_96": .sha1_96
        case "HMAC_MD5_96": .md5_96
        case "AES_XCBC_96": .aesXCBC96
        case "HMAC_SHA2_256_128": .sha256_128
        case "HMAC_SHA2_384_192": .sha384_192
        case "HMAC_SHA2_512_256": .sha512_256
        default: nil
        }
    }
}
