// What `probe` (PathMTUProbe) and the daemon's sweeps (EchoSweep) share: echo requests, the sockets'
// probe mode, literal addresses as socket addresses, and a monotonic clock.

#if canImport(Glibc)
    import Glibc
#endif

enum ICMPEcho {
    /// An ICMP (IPv4) or ICMPv6 echo request of `length` bytes (header included), payload `fill`.
    /// ICMPv6's checksum is left to the kernel (it covers a pseudo-header); ICMP's is computed here.
    static func request(length: Int, ipv6: Bool, identifier: UInt16, sequence: UInt16, fill: UInt8) -> [UInt8] {
        var packet = [UInt8](repeating: fill, count: length)
        packet[0] = ipv6 ? 128 : 8
        packet[1] = 0
        packet[2] = 0
        packet[3] = 0
        packet[4] = UInt8(identifier >> 8)
        packet[5] = UInt8(identifier & 0xff)
        packet[6] = UInt8(sequence >> 8)
        packet[7] = UInt8(sequence & 0xff)
        if !ipv6 {
            var sum: UInt32 = 0
            var index = 0
            while index + 1 < packet.count {
                sum += UInt32(packet[index]) << 8 | UInt32(packet[index + 1])
                index += 2
            }
            if index < packet.count { sum += UInt32(packet[index]) << 8 }
            while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
            let checksum = ~UInt16(sum)
            packet[2] = UInt8(checksum >> 8)
            packet[3] = UInt8(checksum & 0xff)
        }
        return packet
    }

    /// PROBE mode: DF (IPv4) / never fragment (IPv6), and the cached path MTU ignored, so sizes above a
    /// learned PMTU are still sent instead of failing locally with EMSGSIZE.
    static func probeMode(_ fd: Int32, ipv6: Bool) {
        var probe: Int32 = 3  // IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE
        if ipv6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), 23 /* IPV6_MTU_DISCOVER */, &probe, socklen_t(4))
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_IPV6), 62 /* IPV6_DONTFRAG */, &one, socklen_t(4))
        } else {
            setsockopt(fd, Int32(IPPROTO_IP), 10 /* IP_MTU_DISCOVER */, &probe, socklen_t(4))
        }
    }
}

/// A literal IPv4 or IPv6 address as a socket address.
struct SocketAddress {
    let ipv6: Bool
    private var v4 = sockaddr_in()
    private var v6 = sockaddr_in6()

    init?(_ text: String) {
        if inet_pton(AF_INET6, text, &v6.sin6_addr) == 1 {
            ipv6 = true
            v6.sin6_family = sa_family_t(AF_INET6)
        } else if inet_pton(AF_INET, text, &v4.sin_addr) == 1 {
            ipv6 = false
            v4.sin_family = sa_family_t(AF_INET)
        } else {
            return nil
        }
    }

    /// Sends `packet` to the address; false when the kernel refused it (EMSGSIZE: above the first hop's
    /// MTU, the reason left in errno).
    func send(fd: Int32, _ packet: inout [UInt8], flags: Int32 = 0) -> Bool {
        var v4 = self.v4
        var v6 = self.v6
        let sent: Int = packet.withUnsafeBytes { bytes in
            if ipv6 {
                return withUnsafePointer(to: &v6) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes.baseAddress, bytes.count, flags, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
            return withUnsafePointer(to: &v4) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, flags, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        return sent == packet.count
    }

    /// The MTU of the route towards the address (IP_MTU of a connected UDP socket), nil when there is no
    /// route.
    func routeMTU() -> Int? {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var v4 = self.v4
        var v6 = self.v6
        v4.sin_port = UInt16(9).bigEndian
        v6.sin6_port = UInt16(9).bigEndian
        let connected: Int32 = ipv6
            ? withUnsafePointer(to: &v6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
            : withUnsafePointer(to: &v4) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return nil }
        var mtu: Int32 = 0
        var length = socklen_t(4)
        let result = ipv6
            ? getsockopt(fd, Int32(IPPROTO_IPV6), 24 /* IPV6_MTU */, &mtu, &length)
            : getsockopt(fd, Int32(IPPROTO_IP), 14 /* IP_MTU */, &mtu, &length)
        return result == 0 && mtu > 0 ? Int(mtu) : nil
    }

    static func text(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        bytes.withUnsafeBytes { raw in
            _ = inet_ntop(bytes.count == 16 ? AF_INET6 : AF_INET, raw.baseAddress, &buffer, 64)
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

enum Clock {
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
