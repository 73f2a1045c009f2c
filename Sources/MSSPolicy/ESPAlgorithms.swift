// The ESP (and OpenVPN) ciphers and integrity algorithms the overhead calculator knows, with the bytes
// each adds to a packet; every number names its RFC.

/// ESP ciphers: IV length, block size the payload is padded to, and the ICV of AEAD modes.
public enum ESPCipher: String, Sendable, CaseIterable {
    case aesGCM128 = "aes-gcm-128", aesGCM192 = "aes-gcm-192", aesGCM256 = "aes-gcm-256"
    case aesCBC128 = "aes-cbc-128", aesCBC192 = "aes-cbc-192", aesCBC256 = "aes-cbc-256"
    case aesCTR128 = "aes-ctr-128", aesCTR192 = "aes-ctr-192", aesCTR256 = "aes-ctr-256"
    case chacha20Poly1305 = "chacha20-poly1305"
    case tripleDESCBC = "3des-cbc"

    /// IV bytes carried in each packet.
    public var ivLength: Int {
        switch self {
        case .aesGCM128, .aesGCM192, .aesGCM256: 8  // RFC 4106 section 3.1: 8-octet explicit IV
        case .aesCBC128, .aesCBC192, .aesCBC256: 16  // RFC 3602 section 3: IV = cipher block, 16
        case .aesCTR128, .aesCTR192, .aesCTR256: 8  // RFC 3686 section 3.1: 8-octet IV
        case .chacha20Poly1305: 8  // RFC 7634 section 2: 64-bit IV
        case .tripleDESCBC: 8  // RFC 2451 section 2.3: 64-bit block and IV
        }
    }

    /// What payload + 2 trailer bytes are padded up to. Stream and counter modes still pad to 4, because
    /// ESP aligns the trailer on a 32-bit boundary (RFC 4303 section 2.4).
    public var blockSize: Int {
        switch self {
        case .aesCBC128, .aesCBC192, .aesCBC256: 16  // RFC 3602 section 2.4
        case .tripleDESCBC: 8  // RFC 2451
        default: 4  // RFC 4106 section 3.2, RFC 3686 section 3.2, RFC 7634 section 2: 4-octet alignment
        }
    }

    /// The ICV an AEAD cipher appends; nil when an integrity algorithm is needed.
    public var aeadICV: Int? {
        switch self {
        case .aesGCM128, .aesGCM192, .aesGCM256: 16  // RFC 4106 section 6: 16-octet ICV (the full tag)
        case .chacha20Poly1305: 16  // RFC 7634 section 2: the 16-octet Poly1305 tag
        default: nil
        }
    }
}

/// ESP integrity algorithms and their truncated ICV.
public enum ESPIntegrity: String, Sendable, CaseIterable {
    case sha1_96 = "sha1-96", sha256_128 = "sha256-128", sha384_192 = "sha384-192", sha512_256 = "sha512-256"
    case md5_96 = "md5-96", aesXCBC96 = "aes-xcbc-96"

    public var icvLength: Int {
        switch self {
        case .sha1_96, .md5_96, .aesXCBC96: 12  // RFC 2404, RFC 2403, RFC 3566: 96-bit truncation
        case .sha256_128: 16  // RFC 4868 section 2.3
        case .sha384_192: 24  // RFC 4868 section 2.3
        case .sha512_256: 32  // RFC 4868 section 2.3
        }
    }

    /// OpenVPN's `--auth` HMAC is not truncated: the full digest (OpenVPN manual, --auth).
    public var fullDigestLength: Int {
        switch self {
        case .sha1_96: 20
        case .sha256_128: 32
        case .sha384_192: 48
        case .sha512_256: 64
        case .md5_96: 16
        case .aesXCBC96: 16
        }
    }
}
