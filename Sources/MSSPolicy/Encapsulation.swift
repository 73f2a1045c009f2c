// The encapsulation overhead calculator: the largest inner IP packet (MTU) and TCP MSS that fit a link
// once tunnel headers are added, worst-case padding included. Used by `encap` in the policy file and by
// `mssclamp calc`. Every constant names its source; docs/overhead.md has the tables.

import MSSWire

/// A calculator error: names the bad value and the valid ones.
public struct OverheadError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One layer of a tunnel stack, as policy files and `mssclamp calc --encap` name them.
public enum Encapsulation: Sendable, Hashable {
    /// ESP tunnel mode: a new outer IP header, then ESP (RFC 4303).
    case espTunnel
    /// ESP transport mode: ESP after the original IP header, no new one.
    case espTransport
    /// UDP encapsulation of ESP for NAT traversal: 8 bytes (RFC 3948 section 2.1).
    case natTraversal
    /// GRE over IP: outer IP + 4 bytes, +4 with a key, +4 with a sequence number (RFC 2784, RFC 2890).
    case gre(key: Bool, sequence: Bool)
    /// PPPoE: 6-byte PPPoE header + 2-byte PPP protocol field (RFC 2516 section 4); 1500 -> 1492.
    case pppoe
    /// MPLS: 4 bytes per label stack entry (RFC 3032 section 2.1).
    case mpls(labels: Int)
    /// VXLAN: outer IP + UDP 8 + VXLAN 8 + the inner Ethernet header 14 (RFC 7348 section 5).
    case vxlan
    /// WireGuard: outer IP + UDP 8 + type/reserved 4 + receiver 4 + counter 8 + Poly1305 tag 16
    /// (WireGuard whitepaper section 5.4.6), and the plaintext padded to a multiple of 16, but never past
    /// the WireGuard interface's MTU (Linux driver and wireguard-go alike). When that MTU is larger than
    /// what the path leaves (the usual 1420 over a 1400-byte path), a packet just below the limit is
    /// padded over it: the inner MTU is the limit rounded down to 16, unless the interface MTU is known
    /// to fit (`tunnelMTU`).
    case wireguard
    /// OpenVPN data channel over UDP or TCP.
    case openVPN(tcp: Bool)
    /// Makes every layer that adds an IP header add an IPv6 one (40 instead of 20).
    case ipv6Outer

    /// Names accepted in `encap = [...]` and `--encap`.
    public static let names = [
        "ipsec-esp-tunnel", "ipsec-esp-transport", "nat-t", "gre", "gre-key", "gre-seq", "gre-key-seq", "pppoe",
        "mpls", "mpls-2", "mpls-3", "vxlan", "wireguard", "openvpn-udp", "openvpn-tcp", "ipv6-outer",
    ]

    public init(name: String) throws(OverheadError) {
        switch name.lowercased() {
        case "ipsec-esp-tunnel", "esp-tunnel": self = .espTunnel
        case "ipsec-esp-transport", "esp-transport": self = .espTransport
        case "nat-t", "natt", "esp-in-udp": self = .natTraversal
        case "gre": self = .gre(key: false, sequence: false)
        case "gre-key": self = .gre(key: true, sequence: false)
        case "gre-seq": self = .gre(key: false, sequence: true)
        case "gre-key-seq": self = .gre(key: true, sequence: true)
        case "pppoe": self = .pppoe
        case "mpls": self = .mpls(labels: 1)
        case "vxlan": self = .vxlan
        case "wireguard", "wg": self = .wireguard
        case "openvpn-udp", "openvpn": self = .openVPN(tcp: false)
        case "openvpn-tcp": self = .openVPN(tcp: true)
        case "ipv6-outer", "outer-ipv6": self = .ipv6Outer
        default:
            if name.hasPrefix("mpls-"), let labels = Int(name.dropFirst(5)), (1...16).contains(labels) {
                self = .mpls(labels: labels)
                return
            }
            throw OverheadError("unknown encapsulation '\(name)'; known: \(Self.names.joined(separator: ", "))")
        }
    }
}

/// One line of the breakdown.
public struct OverheadLayer: Sendable, Hashable {
    public var name: String
    public var bytes: Int
    public var source: String
}

/// What fits: inner MTU and MSS per inner family.
public struct OverheadResult: Sendable, Hashable {
    public var linkMTU: Int
    /// The largest inner IPv4 packet.
    public var mtu4: Int
    /// The largest inner IPv6 packet (differs from mtu4 only in transport mode, where the inner header is
    /// the outer one).
    public var mtu6: Int
    /// mtu4 - 40 (IPv4 20 + TCP 20).
    public var mss4: Int { IPFamily.ipv4.mss(forMTU: mtu4) }
    /// mtu6 - 60 (IPv6 40 + TCP 20).
    public var mss6: Int { IPFamily.ipv6.mss(forMTU: mtu6) }
    /// The inner MTU for IPv4, the usual "tunnel MTU".
    public var mtu: Int { mtu4 }
    /// Bytes per layer, outermost first, padding as its worst case.
    public var layers: [OverheadLayer]
}

public enum OverheadCalculator {
    /// ESP without a named cipher or integrity: the largest overhead among the supported ones
    /// (AES-CBC's 16-byte IV and block with SHA512-256's 32-byte ICV), so the result is safe.
    public static let worstCaseCipher = ESPCipher.aesCBC256
    public static let worstCaseIntegrity = ESPIntegrity.sha512_256

    /// Computes the MTU and MSS that fit `linkMTU` under `encapsulation`. PPPoE and MPLS are always the
    /// link framing (outermost) and NAT-T always sits right outside ESP, wherever they are listed; tunnel
    /// layers apply in the listed order, inner to outer ("gre, ipsec-esp-tunnel": GRE inside ESP).
    /// - Parameter tunnelMTU: the MTU of the tunnel interface, when known (WireGuard's padding stops there).
    public static func compute(
        linkMTU: Int, encapsulation: [Encapsulation], cipher: ESPCipher? = nil, integrity: ESPIntegrity? = nil,
        tunnelMTU: Int? = nil
    ) throws(OverheadError) -> OverheadResult {
        guard ValueRange.linkMTU.contains(linkMTU) else {
            throw OverheadError("link MTU \(linkMTU) is \(ValueRange.linkMTU.outside)")
        }
        let outerFamily: IPFamily = encapsulation.contains(.ipv6Outer) ? .ipv6 : .ipv4
        let outerIP = outerFamily.ipHeaderBytes
        let ipName = outerFamily == .ipv6 ? "outer IPv6 header" : "outer IPv4 header"
        let ipSource = outerFamily == .ipv6 ? "RFC 8200 section 3" : "RFC 791 section 3.1"
        let usesESP = encapsulation.contains(.espTunnel) || encapsulation.contains(.espTransport)
        let usesOpenVPN = encapsulation.contains { if case .openVPN = $0 { true } else { false } }
        if let cipher, let integrity, cipher.aeadICV != nil {
            throw OverheadError("\(cipher.rawValue) authenticates by itself; drop integrity '\(integrity.rawValue)'")
        }
        if (cipher != nil || integrity != nil) && !usesESP && !usesOpenVPN {
            throw OverheadError("cipher and integrity apply to ipsec-esp-* and openvpn-* only")
        }
        // Where each layer sits does not depend on how it was listed: PPPoE and MPLS are link framing, so
        // outermost; NAT-T is the UDP header right outside ESP; the tunnels themselves (GRE inside ESP,
        // ...) apply in the order given, inner to outer. `ordered` is outermost first.
        let isLink: (Encapsulation) -> Bool = { if case .pppoe = $0 { true } else if case .mpls = $0 { true } else { false } }
        let natT = encapsulation.contains(.natTraversal)
        if natT && !usesESP { throw OverheadError("nat-t is UDP encapsulation of ESP: it needs ipsec-esp-tunnel or ipsec-esp-transport") }
        var ordered = encapsulation.filter(isLink)
        for layer in encapsulation.reversed() where !isLink(layer) && layer != .natTraversal && layer != .ipv6Outer {
            if natT && (layer == .espTunnel || layer == .espTransport) { ordered.append(.natTraversal) }
            ordered.append(layer)
        }
        // Inner MTU per inner-header size: tunnel layers do not care, transport ESP does.
        var layers: [OverheadLayer] = []
        func innerMTU(innerHeader: Int, record: Bool) -> Int {
            var available = linkMTU
            func take(_ bytes: Int, _ name: String, _ source: String) {
                available -= bytes
                if record { layers.append(OverheadLayer(name: name, bytes: bytes, source: source)) }
            }
            for (index, layer) in ordered.enumerated() {
                switch layer {
                case .ipv6Outer:
                    break
                case .natTraversal:
                    // The UDP header sits inside ESP tunnel mode's outer IP header: the tunnel case takes it
                    // there, so the breakdown reads outermost first.
                    if ordered.indices.contains(index + 1), ordered[index + 1] == .espTunnel { break }
                    take(8, "UDP (NAT-T)", "RFC 3948 section 2.1")
                case .pppoe:
                    take(8, "PPPoE 6 + PPP 2", "RFC 2516 section 4")
                case .mpls(let labels):
                    take(4 * labels, "MPLS \(labels) label(s)", "RFC 3032 section 2.1")
                case .gre(let key, let sequence):
                    take(outerIP, ipName, ipSource)
                    take(4 + (key ? 4 : 0) + (sequence ? 4 : 0), "GRE", "RFC 2784 section 2.1, RFC 2890 section 2")
                case .vxlan:
                    take(outerIP, ipName, ipSource)
                    take(8, "UDP", "RFC 768")
                    take(8, "VXLAN header", "RFC 7348 section 5")
                    take(14, "inner Ethernet header", "RFC 7348 section 5")
                case .wireguard:
                    take(outerIP, ipName, ipSource)
                    take(8, "UDP", "RFC 768")
                    take(16, "WireGuard type, receiver, counter", "WireGuard whitepaper section 5.4.6")
                    take(16, "Poly1305 tag", "WireGuard whitepaper section 5.4.6")
                    // Padding to 16, capped at the interface MTU: an interface MTU that fits leaves the
                    // rest usable; otherwise only whole 16-byte units are (docs/overhead.md).
                    if let tunnelMTU, tunnelMTU <= available {
                        if record && available > tunnelMTU {
                            layers.append(OverheadLayer(name: "unused: the interface MTU is \(tunnelMTU)", bytes: available - tunnelMTU, source: "ip link (the WireGuard interface)"))
                        }
                        available = tunnelMTU
                    } else {
                        let padded = available / 16 * 16
                        if record {
                            layers.append(OverheadLayer(name: "padding to 16 (worst case)", bytes: available - padded, source: "WireGuard whitepaper section 5.4.6; wireguard-go calculatePaddingSize"))
                        }
                        available = padded
                    }
                case .openVPN(let tcp):
                    take(outerIP, ipName, ipSource)
                    if tcp {
                        take(20, "TCP", "RFC 9293 section 3.1")
                        take(2, "OpenVPN packet length", "OpenVPN protocol, TCP framing")
                    } else {
                        take(8, "UDP", "RFC 768")
                    }
                    take(4, "OpenVPN opcode + peer-id (P_DATA_V2)", "OpenVPN protocol, data channel")
                    let openCipher = cipher ?? .aesGCM256
                    if let tag = openCipher.aeadICV {
                        take(4, "packet id", "OpenVPN protocol, AEAD data channel")
                        take(tag, "AEAD tag", "OpenVPN protocol, AEAD data channel")
                    } else {
                        let hmac = (integrity ?? .sha1_96).fullDigestLength
                        take(hmac, "HMAC (full digest)", "OpenVPN manual, --auth")
                        take(openCipher.ivLength, "IV", "OpenVPN manual, --cipher")
                        // Encrypted: packet id 4 + payload, PKCS#7-padded (always 1 to block bytes). The
                        // payload may use floor(available / block) * block - 1 - 4 bytes.
                        let block = openCipher.blockSize
                        let usable = available / block * block
                        if record {
                            layers.append(OverheadLayer(name: "packet id", bytes: 4, source: "OpenVPN protocol, CBC data channel"))
                            layers.append(OverheadLayer(name: "padding (worst case)", bytes: available - usable + 1, source: "PKCS#7, RFC 5652 section 6.3"))
                        }
                        available = usable - 1 - 4
                    }
                case .espTunnel, .espTransport:
                    let tunnel = layer == .espTunnel
                    if tunnel {
                        take(outerIP, ipName, ipSource)
                        if index > 0, ordered[index - 1] == .natTraversal { take(8, "UDP (NAT-T)", "RFC 3948 section 2.1") }
                    } else {
                        take(innerHeader, "the packet's own IP header (stays in front of ESP)", "RFC 4303 section 3.1.1")
                    }
                    let espCipher = cipher ?? worstCaseCipher
                    let icv = espCipher.aeadICV ?? (integrity ?? worstCaseIntegrity).icvLength
                    take(8, "ESP SPI + sequence number", "RFC 4303 section 2")
                    take(espCipher.ivLength, "IV (\(espCipher.rawValue))", "see ESPCipher")
                    take(icv, "ICV", "RFC 4106 / RFC 4868 / RFC 7634")
                    // Payload + pad length + next header are padded to the block: the payload may use
                    // floor(available / block) * block - 2 bytes.
                    let block = espCipher.blockSize
                    let padded = available / block * block
                    if record {
                        layers.append(OverheadLayer(name: "ESP trailer (pad length, next header)", bytes: 2, source: "RFC 4303 section 2.4"))
                        layers.append(OverheadLayer(name: "ESP padding to \(block) (worst case)", bytes: available - padded, source: "RFC 4303 section 2.4"))
                    }
                    available = padded - 2
                    if !tunnel {
                        // Transport mode: the inner packet's own header stays in front of ESP.
                        available += innerHeader
                    }
                }
            }
            return available
        }
        let mtu4 = innerMTU(innerHeader: IPFamily.ipv4.ipHeaderBytes, record: true)
        let mtu6 = innerMTU(innerHeader: IPFamily.ipv6.ipHeaderBytes, record: false)
        guard IPFamily.ipv4.mss(forMTU: mtu4) >= 1, IPFamily.ipv6.mss(forMTU: mtu6) >= 1 else {
            throw OverheadError("nothing fits: \(linkMTU) bytes leave an inner MTU of \(min(mtu4, mtu6))")
        }
        return OverheadResult(linkMTU: linkMTU, mtu4: mtu4, mtu6: mtu6, layers: layers)
    }

    /// The same from names, as the policy file and the command line give them.
    public static func compute(linkMTU: Int, names: [String], cipher: String?, integrity: String?, tunnelMTU: Int? = nil)
        throws(OverheadError) -> OverheadResult
    {
        guard !names.isEmpty else { throw OverheadError("encap is empty; known: \(Encapsulation.names.joined(separator: ", "))") }
        var layers: [Encapsulation] = []
        for name in names { layers.append(try Encapsulation(name: name)) }
        var espCipher: ESPCipher?
        if let cipher {
            guard let value = ESPCipher(rawValue: cipher.lowercased()) else {
                throw OverheadError("unknown cipher '\(cipher)'; known: \(ESPCipher.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            espCipher = value
        }
        var espIntegrity: ESPIntegrity?
        if let integrity {
            guard let value = ESPIntegrity(rawValue: integrity.lowercased()) else {
                throw OverheadError("unknown integrity '\(integrity)'; known: \(ESPIntegrity.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            espIntegrity = value
        }
        return try compute(linkMTU: linkMTU, encapsulation: layers, cipher: espCipher, integrity: espIntegrity, tunnelMTU: tunnelMTU)
    }

    /// The path MTU and MSS from the largest ICMP echo payload that passed with DF set (as `ping -M do
    /// -s SIZE` measures it): payload + 8 (ICMP header) + 20 or 40 (IP header) = path MTU; MSS = path MTU
    /// - 40 or - 60. The Hungarian field report's 1410 gives 1438 and MSS 1398.
    public static func fromPingPayload(_ payload: Int, ipv6: Bool = false) -> (pathMTU: Int, mss: Int) {
        let family: IPFamily = ipv6 ? .ipv6 : .ipv4
        let pathMTU = payload + icmpEchoHeaderBytes + family.ipHeaderBytes
        return (pathMTU, family.mss(forMTU: pathMTU))
    }

    /// The inverse: the ICMP echo payload that fills a packet of `pathMTU` bytes (what to give `ping -M do
    /// -s` or `calc --measured-icmp`).
    public static func pingPayload(forPathMTU pathMTU: Int, ipv6: Bool = false) -> Int {
        pathMTU - icmpEchoHeaderBytes - (ipv6 ? IPFamily.ipv6 : .ipv4).ipHeaderBytes
    }

    /// An ICMP or ICMPv6 echo header: type, code, checksum, identifier, sequence (RFC 792, RFC 4443).
    static let icmpEchoHeaderBytes = 8
}
