// The daemon's path measurement for `mss = "auto"`: DF echo requests of many sizes at once, so a peer's
// path MTU is known within about a second instead of a bisection's ten round trips (and timeouts).

import MSSWire

#if canImport(Glibc)
    import Glibc
#endif

/// Raw ICMP and ICMPv6 sockets, opened once while the daemon still may (CAP_NET_RAW), used by the
/// measuring thread after the capabilities are gone. Each one sends with DF / never-fragment and ignores
/// the cached path MTU (PMTUDISC_PROBE), and receives every ICMP message the host gets: echo replies, and
/// the "fragmentation needed" / "packet too big" reports that say a peer's path changed.
public final class EchoSockets: @unchecked Sendable {
    public let ipv4: Int32
    public let ipv6: Int32

    /// nil with the reason when neither family can be opened (no CAP_NET_RAW).
    public static func open() -> (sockets: EchoSockets?, error: String?) {
        let v4 = Self.raw(ipv6: false)
        let v6 = Self.raw(ipv6: true)
        guard v4.fd >= 0 || v6.fd >= 0 else {
            return (nil, "cannot open a raw ICMP socket: \(String(cString: strerror(v4.error)))\(v4.error == EPERM ? " (needs CAP_NET_RAW at start)" : "")")
        }
        return (EchoSockets(ipv4: v4.fd, ipv6: v6.fd), nil)
    }

    private init(ipv4: Int32, ipv6: Int32) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }

    deinit {
        if ipv4 >= 0 { close(ipv4) }
        if ipv6 >= 0 { close(ipv6) }
    }

    private static func raw(ipv6: Bool) -> (fd: Int32, error: Int32) {
        let fd = socket(
            ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
            ipv6 ? Int32(IPPROTO_ICMPV6) : Int32(IPPROTO_ICMP))
        guard fd >= 0 else { return (-1, errno) }
        ICMPEcho.probeMode(fd, ipv6: ipv6)
        // A raw socket gets a copy of every ICMP message the host receives: the kernel keeps all but echo
        // replies and "too big" reports away from it (a set bit blocks a type).
        if ipv6 {
            var filter = [UInt32](repeating: 0xffff_ffff, count: 8)  // ICMP6_FILTER: 256 types
            for type in [2, 129] { filter[type >> 5] &= ~(UInt32(1) << UInt32(type & 31)) }
            setsockopt(fd, Int32(IPPROTO_ICMPV6), 1 /* ICMP6_FILTER */, &filter, socklen_t(32))
        } else {
            var filter = ~(UInt32(1) << 0 | UInt32(1) << 3)  // ICMP_FILTER: echo reply, unreachable
            setsockopt(fd, 255 /* SOL_RAW */, 1 /* ICMP_FILTER */, &filter, socklen_t(4))
        }
        return (fd, 0)
    }

    public func descriptor(ipv6: Bool) -> Int32 { ipv6 ? self.ipv6 : ipv4 }
}

/// An ICMP message the sockets received that is not an answer to the sweep in progress.
public enum ICMPNotice: Sendable, Hashable {
    /// "Fragmentation needed" (IPv4) or "packet too big" (IPv6) about a datagram this host sent to
    /// `destination`; `mtu` as the router reported it.
    case tooBig(destination: String, mtu: Int)
}

/// What a sweep found.
public struct SweepResult: Sendable, Hashable {
    /// The largest IP packet (header included) that got an echo reply; nil when none did.
    public var pathMTU: Int?
    /// The largest size sent (the route's own MTU, or `maximum`).
    public var ceiling: Int
    public var probes: Int
    public var rounds: Int
}

/// Echo requests of many sizes at once towards one address; the largest that is answered is the path
/// MTU. Round one sends every 16th size from the maximum down to the minimum; round two the 15 sizes
/// above round one's answer. A lost reply can only make the result smaller, never too large.
public struct EchoSweep {
    public let sockets: EchoSockets
    /// Seconds to wait for replies after a round's last request.
    public var wait: Double = 1.0
    /// Notices seen while waiting (the caller acts on them).
    public private(set) var notices: [ICMPNotice] = []
    private var identifier: UInt16

    public init(sockets: EchoSockets, identifier: UInt16) {
        self.sockets = sockets
        self.identifier = identifier
    }

    /// Measures the path to `target` (a literal address): sizes within `minimum...maximum`, capped at the
    /// MTU of the route the kernel would use.
    public mutating func run(target: String, minimum: Int, maximum: Int) -> SweepResult {
        guard let address = SocketAddress(target) else { return SweepResult(pathMTU: nil, ceiling: maximum, probes: 0, rounds: 0) }
        let fd = sockets.descriptor(ipv6: address.ipv6)
        guard fd >= 0 else { return SweepResult(pathMTU: nil, ceiling: maximum, probes: 0, rounds: 0) }
        let ceiling = min(maximum, address.routeMTU() ?? maximum)
        identifier &+= 1
        var probes = 0
        var rounds = 0
        // Round one, tried twice when nothing answers (a WireGuard handshake, an ARP miss).
        var best: Int?
        for _ in 0..<2 {
            var sizes: [Int] = []
            var size = ceiling
            while size >= minimum {
                sizes.append(size)
                size -= 16
            }
            if sizes.last != minimum && minimum <= ceiling { sizes.append(minimum) }
            probes += sizes.count
            rounds += 1
            best = round(fd: fd, address: address, sizes: sizes, stopAt: ceiling)
            if best != nil { break }
        }
        guard let first = best else { return SweepResult(pathMTU: nil, ceiling: ceiling, probes: probes, rounds: rounds) }
        var result = first
        if first < ceiling {
            let sizes = Array((first + 1)...min(first + 15, ceiling)).reversed()
            probes += sizes.count
            rounds += 1
            if let better = round(fd: fd, address: address, sizes: Array(sizes), stopAt: sizes.first ?? first), better > first {
                result = better
            }
        }
        return SweepResult(pathMTU: result, ceiling: ceiling, probes: probes, rounds: rounds)
    }

    /// Sends one request per size (the sequence number is the size) and returns the largest answered.
    private mutating func round(fd: Int32, address: SocketAddress, sizes: [Int], stopAt: Int) -> Int? {
        // Replies to an earlier sweep must not count: a new identifier per round.
        identifier &+= 1
        drain(fd: fd, ipv6: address.ipv6, collect: nil)
        for size in sizes {
            let headerLength = (address.ipv6 ? IPFamily.ipv6 : .ipv4).ipHeaderBytes
            guard size - headerLength >= 8 else { continue }
            var packet = ICMPEcho.request(length: size - headerLength, ipv6: address.ipv6, identifier: identifier, sequence: UInt16(size), fill: 0x5a)
            _ = address.send(fd: fd, &packet, flags: Int32(MSG_DONTWAIT))  // EMSGSIZE: above the first hop's MTU, no answer
        }
        var best: Int?
        let sent = Clock.now()
        var deadline = sent + wait
        while Clock.now() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let remaining = Int32(max(1, (deadline - Clock.now()) * 1000))
            guard poll(&poller, 1, remaining) > 0 else { continue }
            let first = best == nil
            drain(fd: fd, ipv6: address.ipv6) { size in best = max(best ?? 0, size) }
            if best == stopAt { break }
            if first, best != nil {
                // Every request left at once, so every reply that will come comes about one round trip
                // after the first: wait that long again (at least 200 ms), not the full second.
                let now = Clock.now()
                deadline = min(deadline, now + max(0.2, now - sent))
            }
        }
        return best
    }

    /// Reads what is queued: echo replies of the current identifier go to `collect` (their size), "too
    /// big" reports to `notices`.
    private mutating func drain(fd: Int32, ipv6: Bool, collect: ((Int) -> Void)?) {
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { return }
            switch EchoPacket.parse(buffer, count: count, ipv6: ipv6, identifier: identifier) {
            case .reply(let size)?: collect?(size)
            case .notice(let notice)?: notices.append(notice)
            case nil: break
            }
        }
    }

    /// The MTU of the route the kernel would use towards `address`, nil when there is none.
    public static func routeMTU(to address: String) -> Int? { SocketAddress(address)?.routeMTU() }

    /// Reads every queued message and returns the "too big" reports among them (between sweeps).
    public static func notices(_ sockets: EchoSockets) -> [ICMPNotice] {
        var sweep = EchoSweep(sockets: sockets, identifier: 0)
        for ipv6 in [false, true] where sockets.descriptor(ipv6: ipv6) >= 0 {
            sweep.drain(fd: sockets.descriptor(ipv6: ipv6), ipv6: ipv6, collect: nil)
        }
        return sweep.notices
    }
}

/// Reading what comes back to a sweep.
enum EchoPacket {
    enum Parsed {
        case reply(size: Int)
        case notice(ICMPNotice)
    }

    /// An echo reply of ours (its size is its sequence number), a "too big" report, or nil.
    static func parse(_ buffer: [UInt8], count: Int, ipv6: Bool, identifier: UInt16) -> Parsed? {
        var icmp = 0
        if !ipv6 {
            // Raw IPv4 sockets deliver the IP header first.
            guard count >= 20 else { return nil }
            icmp = Int(buffer[0] & 0x0f) * 4
        }
        guard count >= icmp + 8 else { return nil }
        let type = buffer[icmp]
        let code = buffer[icmp + 1]
        let id = UInt16(buffer[icmp + 4]) << 8 | UInt16(buffer[icmp + 5])
        let sequence = Int(buffer[icmp + 6]) << 8 | Int(buffer[icmp + 7])
        if (ipv6 && type == 129) || (!ipv6 && type == 0) {
            return id == identifier ? .reply(size: sequence) : nil
        }
        if !ipv6 && type == 3 && code == 4 {
            // Fragmentation needed: the next-hop MTU in bytes 6-7, then the quoted IP header.
            let mtu = Int(buffer[icmp + 6]) << 8 | Int(buffer[icmp + 7])
            let quoted = icmp + 8
            guard count >= quoted + 20 else { return nil }
            let destination = Array(buffer[(quoted + 16)..<(quoted + 20)])
            return .notice(.tooBig(destination: SocketAddress.text(destination), mtu: mtu))
        }
        if ipv6 && type == 2 {
            // Packet too big: MTU in bytes 4-7, then the quoted IPv6 header (destination at 24-39).
            let mtu = Int(buffer[4]) << 24 | Int(buffer[5]) << 16 | Int(buffer[6]) << 8 | Int(buffer[7])
            guard count >= 8 + 40 else { return nil }
            return .notice(.tooBig(destination: SocketAddress.text(Array(buffer[32..<48])), mtu: mtu))
        }
        return nil
    }
}
