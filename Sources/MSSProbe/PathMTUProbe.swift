// `mssclamp probe`: the path MTU by bisection with DF-set ICMP echo requests (IPv4) or unfragmentable
// ICMPv6 echo requests, telling "fragmentation needed / packet too big" apart from silence (a PMTUD
// black hole), and optionally walking the TTL to name the hop where the path shrinks.

import MSSWire

#if canImport(Glibc)
    import Glibc
#endif

/// What one probe of one size saw.
public enum ProbeAnswer: Sendable, Hashable {
    /// An echo reply: the size crosses the path.
    case reply
    /// A router said the packet is too big: its address and the MTU it reported.
    case tooBig(router: String, mtu: Int)
    /// A router said the TTL ran out (only with a limited TTL): its address.
    case timeExceeded(router: String)
    /// Nothing within the timeout.
    case silence
}

/// One step of the bisection, for the report.
public struct ProbeStep: Sendable, Hashable {
    public var size: Int
    public var answer: ProbeAnswer
}

/// The result of a probe run.
public struct ProbeResult: Sendable {
    public var target: String
    public var ipv6: Bool
    /// The largest packet (IP header included) that got a reply; nil when not even `min` did.
    public var pathMTU: Int?
    public var steps: [ProbeStep]
    /// Sizes that were met with silence while a smaller one got through: a PMTUD black hole.
    public var blackHole: Bool { steps.contains { $0.answer == .silence } && pathMTU != nil }
    /// "Too big" messages received, by router.
    public var reports: [(router: String, mtu: Int)] {
        steps.compactMap { if case .tooBig(let router, let mtu) = $0.answer { (router, mtu) } else { nil } }
    }
    /// The recommended MSS for the path MTU (IPv4: - 40, IPv6: - 60).
    public var mss: Int? { pathMTU.map { (ipv6 ? IPFamily.ipv6 : .ipv4).mss(forMTU: $0) } }
    /// TTL walk: (ttl, answer) at the failing size.
    public var hops: [(ttl: Int, answer: ProbeAnswer)] = []
}

public struct ProbeError: Error, CustomStringConvertible {
    public var description: String
    public var exitCode: Int32
}

/// Sends ICMP(v6) echo requests that may not be fragmented and reads what comes back.
public final class PathMTUProbe {
    public let target: String
    public let ipv6: Bool
    private let descriptor: Int32
    private let address: SocketAddress
    private let identifier = UInt16(truncatingIfNeeded: getpid())
    private var sequence: UInt16 = 0
    /// Seconds to wait for an answer to one request.
    public var timeout: Double
    public var attempts: Int

    /// Opens a raw ICMP or ICMPv6 socket (root or CAP_NET_RAW) towards `target` (a literal address).
    public init(target: String, timeout: Double = 1.0, attempts: Int = 2) throws(ProbeError) {
        self.target = target
        self.timeout = timeout
        self.attempts = attempts
        guard let address = SocketAddress(target) else {
            throw ProbeError(description: "'\(target)' is not an IPv4 or IPv6 address (give a literal address)", exitCode: 64)
        }
        self.address = address
        ipv6 = address.ipv6
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_RAW.rawValue), ipv6 ? Int32(IPPROTO_ICMPV6) : Int32(IPPROTO_ICMP))
        guard fd >= 0 else {
            let code = errno
            throw ProbeError(
                description: "cannot open a raw ICMP socket: \(String(cString: strerror(code)))\(code == EPERM ? " (needs root or CAP_NET_RAW)" : "")",
                exitCode: 69)
        }
        descriptor = fd
        ICMPEcho.probeMode(fd, ipv6: ipv6)
    }

    deinit { close(descriptor) }

    /// Sends one echo request of `size` bytes (IP header included) with `ttl`, and waits for its answer.
    public func send(size: Int, ttl: Int = 64) -> ProbeAnswer {
        for _ in 0..<attempts {
            let answer = sendOnce(size: size, ttl: ttl)
            if answer != .silence { return answer }
        }
        return .silence
    }

    private func sendOnce(size: Int, ttl: Int) -> ProbeAnswer {
        sequence &+= 1
        var hops = Int32(ttl)
        if ipv6 {
            setsockopt(descriptor, Int32(IPPROTO_IPV6), Int32(IPV6_UNICAST_HOPS), &hops, socklen_t(4))
        } else {
            setsockopt(descriptor, Int32(IPPROTO_IP), Int32(IP_TTL), &hops, socklen_t(4))
        }
        let icmpLength = size - (ipv6 ? IPFamily.ipv6 : .ipv4).ipHeaderBytes
        guard icmpLength >= 8 else { return .silence }
        var packet = ICMPEcho.request(length: icmpLength, ipv6: ipv6, identifier: identifier, sequence: sequence, fill: 0xa5)
        guard address.send(fd: descriptor, &packet) else {
            // EMSGSIZE: the first hop's own MTU is smaller; the kernel knows it.
            if errno == EMSGSIZE { return .tooBig(router: "local interface", mtu: address.routeMTU() ?? 0) }
            return .silence
        }
        return awaitAnswer()
    }

    /// Reads ICMP until an answer to the current request arrives or the timeout passes.
    private func awaitAnswer() -> ProbeAnswer {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Clock.now() + timeout
        while true {
            let remaining = deadline - Clock.now()
            guard remaining > 0 else { return .silence }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(remaining * 1000) + 1) > 0 else { continue }
            var from = sockaddr_storage()
            var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0, &fromLength) }
                }
            }
            // Never blocks: the deadline above bounds the wait even if a readable datagram went away.
            guard count > 0 else { continue }
            let sender = Self.text(from)
            if let answer = ipv6 ? parse6(buffer, count, sender) : parse4(buffer, count, sender) { return answer }
        }
    }

    private func matches(_ bytes: ArraySlice<UInt8>) -> Bool {
        // An echo request of ours quoted (or echoed): id and sequence at offsets 4...7.
        guard bytes.count >= 8 else { return false }
        let base = bytes.startIndex
        return UInt16(bytes[base + 4]) << 8 | UInt16(bytes[base + 5]) == identifier
            && UInt16(bytes[base + 6]) << 8 | UInt16(bytes[base + 7]) == sequence
    }

    /// Raw IPv4 ICMP sockets deliver the IP header too.
    private func parse4(_ buffer: [UInt8], _ count: Int, _ sender: String) -> ProbeAnswer? {
        guard count >= 20 else { return nil }
        let headerLength = Int(buffer[0] & 0x0f) * 4
        guard count >= headerLength + 8 else { return nil }
        let icmp = buffer[headerLength..<count]
        let type = icmp[icmp.startIndex]
        let code = icmp[icmp.startIndex + 1]
        switch type {
        case 0 where matches(icmp):
            return .reply
        case 3, 11:
            // The quoted datagram: its IP header, then the first 8 bytes of our ICMP message.
            let quoted = icmp.dropFirst(8)
            guard quoted.count >= 20 else { return nil }
            let quotedHeader = Int(quoted[quoted.startIndex] & 0x0f) * 4
            guard quoted.count >= quotedHeader + 8, matches(quoted.dropFirst(quotedHeader)) else { return nil }
            if type == 11 { return .timeExceeded(router: sender) }
            if code == 4 {
                let mtu = Int(icmp[icmp.startIndex + 6]) << 8 | Int(icmp[icmp.startIndex + 7])
                return .tooBig(router: sender, mtu: mtu)
            }
            return nil
        default:
            return nil
        }
    }

    /// Raw ICMPv6 sockets deliver the ICMPv6 message only.
    private func parse6(_ buffer: [UInt8], _ count: Int, _ sender: String) -> ProbeAnswer? {
        guard count >= 8 else { return nil }
        let icmp = buffer[0..<count]
        switch buffer[0] {
        case 129 where matches(icmp):
            return .reply
        case 2, 3:
            // Packet too big / time exceeded: our IPv6 header (40) and ICMPv6 header follow the 8 bytes.
            let quoted = icmp.dropFirst(8)
            guard quoted.count >= 48, quoted[quoted.startIndex + 6] == 58, matches(quoted.dropFirst(40)) else { return nil }
            if buffer[0] == 3 { return .timeExceeded(router: sender) }
            let mtu = Int(buffer[4]) << 24 | Int(buffer[5]) << 16 | Int(buffer[6]) << 8 | Int(buffer[7])
            return .tooBig(router: sender, mtu: mtu)
        default:
            return nil
        }
    }

    static func text(_ storage: sockaddr_storage) -> String {
        var copy = storage
        var buffer = [CChar](repeating: 0, count: 64)
        if storage.ss_family == sa_family_t(AF_INET6) {
            withUnsafePointer(to: &copy) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &raw, &buffer, 64)
                }
            }
        } else {
            withUnsafePointer(to: &copy) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &raw, &buffer, 64)
                }
            }
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Bisects the largest size in `minimum...maximum` that gets an echo reply. A "too big" answer with
    /// an MTU inside the range is tried next directly (it is what PMTUD would use).
    public func run(minimum: Int, maximum: Int, walkHops: Bool = false, maxHops: Int = 30) -> ProbeResult {
        var steps: [ProbeStep] = []
        func probe(_ size: Int) -> ProbeAnswer {
            let answer = send(size: size)
            steps.append(ProbeStep(size: size, answer: answer))
            return answer
        }
        var result = ProbeResult(target: target, ipv6: ipv6, pathMTU: nil, steps: [])
        if probe(maximum) == .reply {
            result.pathMTU = maximum
        } else if probe(minimum) != .reply {
            result.pathMTU = nil
        } else {
            var low = minimum  // known to pass
            var high = maximum  // known to fail
            while high - low > 1 {
                var next = (low + high) / 2
                if case .tooBig(_, let mtu) = steps.last?.answer, mtu > low, mtu < high { next = mtu }
                if probe(next) == .reply { low = next } else { high = next }
                // A router said the next hop MTU is `low`, and `low` passed: trust it for the sizes above.
                if steps.contains(where: { if case .tooBig(_, let mtu) = $0.answer { mtu == low } else { false } }) {
                    high = low + 1
                }
            }
            result.pathMTU = low
        }
        result.steps = steps
        if walkHops, let mtu = result.pathMTU, mtu < maximum {
            let size = mtu + 1
            for ttl in 1...maxHops {
                let answer = send(size: size, ttl: ttl)
                result.hops.append((ttl, answer))
                if answer != ProbeAnswer.silence, case .timeExceeded = answer { continue }
                break
            }
        }
        return result
    }
}
