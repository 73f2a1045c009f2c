// Every numeric range a setting may take, defined once: the command line's checks and the policy
// file's validation both use these, and every message shows the range the same way ("88-65495").

import MSSWire

/// A range of integers a setting may take, and how messages show it.
public struct ValueRange: Sendable, Hashable, CustomStringConvertible {
    public let bounds: ClosedRange<Int>

    public init(_ bounds: ClosedRange<Int>) { self.bounds = bounds }

    public var lowerBound: Int { bounds.lowerBound }
    public var upperBound: Int { bounds.upperBound }

    public func contains(_ value: Int) -> Bool { bounds.contains(value) }

    /// "88-65495".
    public var description: String { "\(bounds.lowerBound)-\(bounds.upperBound)" }

    /// "within 88-65495", as in "--mss must be within 88-65495".
    public var within: String { "within \(self)" }

    /// "outside 88-65495", as in "MSS 70000 is outside 88-65495".
    public var outside: String { "outside \(self)" }
}

extension ValueRange {
    /// The MSS values a TCP MSS option may sensibly carry: 88 is the smallest the Linux stack accepts
    /// (TCP_MIN_MSS), 65495 is the loopback MTU 65535 minus 40.
    public static let mss = ValueRange(88...65495)

    /// An NFQUEUE number: 16 bits.
    public static let queueNumber = ValueRange(0...Int(UInt16.max))

    /// Any IP link MTU: 68, the smallest IPv4 allows (RFC 791), to 65535, the largest the 16-bit IPv4
    /// total length can say. `calc`, `probe` and the overhead calculator take it.
    public static let linkMTU = ValueRange(68...65535)

    /// A peer's `link_mtu` in the policy file: at least 576, the datagram every IPv4 host must accept
    /// (`IPFamily.guaranteedMTU`); a tunnel over a smaller link is a mistake in the file, not a link.
    public static let peerLinkMTU = ValueRange(IPFamily.ipv4.guaranteedMTU...linkMTU.upperBound)

    /// `[queue] maxlen` / `--queue-maxlen`: packets the kernel holds per queue.
    public static let queueMaxlen = ValueRange(1...1_000_000)

    /// `[queue] batch` / `--batch`: datagrams per recvmmsg call.
    public static let queueBatch = ValueRange(1...1024)

    /// `[queue] rate` / `--queue-rate`: SYNs per second before shedding (0: never shed).
    public static let queueRate = ValueRange(0...10_000_000)

    /// `[queue] burst` / `--queue-burst`: SYNs above the rate before shedding starts.
    public static let queueBurst = ValueRange(1...10_000_000)

    /// A peer's `fwmark` as an integer: 32 bits.
    public static let firewallMark = ValueRange(0...Int(UInt32.max))

    /// A learn-address template's `learn_max`: learned peers it keeps at most.
    public static let learnMax = ValueRange(1...1_000_000)
}
