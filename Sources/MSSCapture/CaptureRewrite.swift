import MSSWire

#if canImport(Glibc)
    import Glibc
#endif

/// Packets per outcome after an offline rewrite, with the details an engineer asks about next.
public struct CaptureSummary: Sendable, Hashable, Codable {
    public var input: String
    public var output: String
    public var linkType: String
    /// Every record read (and written).
    public var packets = 0
    /// Records whose frame carries no IPv4 or IPv6 packet (ARP, LLDP…): written unchanged.
    public var notIP = 0
    /// Packets per outcome name (`clamped`, `already_low`, …), every outcome listed, zeros included.
    public var outcomes: [String: Int] = Dictionary(uniqueKeysWithValues: OutcomeKind.allCases.map { ($0.description, 0) })
    /// Clamps by "from->to" value.
    public var clamps: [String: Int] = [:]
    /// Inserted MSS values.
    public var inserted: [String: Int] = [:]
    /// Malformed packets per reason.
    public var malformed: [String: Int] = [:]
    /// SYNs left without an MSS option, per reason.
    public var missingMSS: [String: Int] = [:]
    /// Per-peer outcome counts, when a policy with peers was used.
    public var peers: [String: [String: Int]] = [:]

    public init(input: String, output: String, linkType: String) {
        self.input = input
        self.output = output
        self.linkType = linkType
    }

    /// Counts one IP packet's outcome.
    public mutating func record(_ outcome: RewriteOutcome, peer: String? = nil) {
        outcomes[outcome.kind.description, default: 0] += 1
        switch outcome {
        case .clamped(let from, let to, let count): clamps["\(from)->\(to)", default: 0] += count
        case .inserted(let mss): inserted["\(mss)", default: 0] += 1
        case .malformed(let reason): malformed[reason.description, default: 0] += 1
        case .clampedMalformed(let from, let to, let count, let reason):
            // Counted as malformed; the MSS options before the malformation were clamped all the same.
            malformed[reason.description, default: 0] += 1
            clamps["\(from)->\(to)", default: 0] += count
        case .missingMSS(let reason): missingMSS["\(reason)", default: 0] += 1
        default: break
        }
        if let peer { peers[peer, default: [:]][outcome.kind.description, default: 0] += 1 }
    }

    /// A short human-readable table.
    public func rendered() -> String {
        var lines = ["\(packets) packets read from \(input) (\(linkType)), written to \(output)"]
        func detail(_ values: [String: Int]) -> String {
            values.isEmpty ? "" : "  (" + values.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                .joined(separator: ", ") + ")"
        }
        for kind in OutcomeKind.allCases {
            let count = outcomes[kind.description] ?? 0
            let extra: String
            switch kind {
            case .clamped: extra = detail(clamps)
            case .inserted: extra = detail(inserted)
            case .malformed: extra = detail(malformed)
            case .missingMSS: extra = detail(missingMSS)
            default: extra = ""
            }
            lines.append("  " + kind.description.rightPadded(to: 12) + String(count).leftPadded(to: 8) + extra)
        }
        lines.append("  " + "not_ip".rightPadded(to: 12) + String(notIP).leftPadded(to: 8))
        for (peer, counts) in peers.sorted(by: { $0.key < $1.key }) {
            lines.append("  peer \(peer): " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }

    fileprivate func rightPadded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// The per-packet decision of an offline rewrite: rewrites the IP packet in `buffer` (length in and out)
/// and returns the outcome with the peer it was attributed to, if any.
public typealias PacketRewrite = (_ buffer: UnsafeMutableRawBufferPointer, _ length: inout Int) -> (RewriteOutcome, String?)

/// Rewrites every packet of a capture file into a new pcap file.
public enum CaptureRewriter {
    /// Reads `input` (pcap or pcapng), applies `rewrite` to every IP packet, and writes every record to
    /// `output` as pcap. The output appears only when the whole capture was processed: it is written to a
    /// temporary file next to it and renamed at the end, and removed on any error.
    public static func rewrite(input: String, output: String, rewrite: PacketRewrite) throws(CaptureError)
        -> CaptureSummary
    {
        let reader = try PcapReader(path: input)
        var summary = CaptureSummary(input: input, output: output, linkType: reader.linkType.description)
        let temporary = output + ".tmp.\(getpid())"
        do throws(CaptureError) {
            let writer = try PcapWriter(
                path: temporary, dlt: reader.dlt, snapshotLength: max(reader.snapshotLength, 65_535) + 4,
                nanosecondPrecision: reader.nanosecondPrecision)
            // One scratch buffer: the largest frame plus room for an inserted option.
            var scratch = [UInt8](repeating: 0, count: 262_144 + 8)
            while let record = try reader.next() {
                summary.packets += 1
                guard let ipOffset = reader.linkType.ipOffset(in: record.bytes), ipOffset < record.bytes.count else {
                    summary.notIP += 1
                    writer.write(
                        seconds: record.seconds, subseconds: record.subseconds,
                        originalLength: record.originalLength, bytes: record.bytes)
                    continue
                }
                if scratch.count < record.bytes.count + 4 { scratch = [UInt8](repeating: 0, count: record.bytes.count + 4) }
                scratch.withUnsafeMutableBytes { buffer in
                    buffer.copyMemory(from: record.bytes)
                    let ipBuffer = UnsafeMutableRawBufferPointer(rebasing: buffer[ipOffset...])
                    var length = record.bytes.count - ipOffset
                    let (outcome, peer) = rewrite(ipBuffer, &length)
                    summary.record(outcome, peer: peer)
                    let frameLength = ipOffset + length
                    let grown = frameLength - record.bytes.count
                    writer.write(
                        seconds: record.seconds, subseconds: record.subseconds,
                        originalLength: record.originalLength + grown,
                        bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<frameLength]))
                }
            }
            try writer.finish()
        } catch {
            unlink(temporary)
            throw error
        }
        guard Glibc.rename(temporary, output) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw .cannotWrite(path: output, message: message)
        }
        return summary
    }
}
