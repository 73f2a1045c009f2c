/// How the rewrite treats SYNs without an MSS option and the checksum it finds.
public struct RewriteSettings: Sendable, Hashable {
    /// Insert an MSS option into SYNs that carry none (kernel `TCPMSS` parity).
    public var insertMissing: Bool
    /// False when the TCP checksum field holds only the pseudo-header sum, as for locally generated packets
    /// whose checksum the NIC would finish (NFQUEUE's `NFQA_SKB_CSUMNOTREADY`). A modified packet then
    /// gets a full checksum, because the kernel marks returned payloads `CHECKSUM_NONE`.
    public var checksumReady: Bool

    @inlinable public init(insertMissing: Bool = true, checksumReady: Bool = true) {
        self.insertMissing = insertMissing
        self.checksumReady = checksumReady
    }
}

/// The MSS rewrite: lowers every MSS option above a ceiling, never raises one, optionally inserts a missing
/// option, and keeps the TCP (and IPv4 header) checksums exact.
public enum MSSRewrite {
    /// Classifies and rewrites one packet in place with a ceiling per family.
    /// - Parameters:
    ///   - buffer: the IP packet at its start, with any spare capacity after it (insertion needs 4 bytes).
    ///   - length: the packet length on entry; the new length on return (it grows by 4 on insertion).
    /// - Returns: what was done; the bytes are unchanged unless `outcome.modifiedPacket`.
    @inlinable
    public static func rewrite(
        _ buffer: UnsafeMutableRawBufferPointer, length: inout Int, ceilingIPv4: UInt16, ceilingIPv6: UInt16,
        settings: RewriteSettings = RewriteSettings()
    ) -> RewriteOutcome {
        switch SYNSegment.classify(UnsafeRawBufferPointer(rebasing: buffer[0..<length])) {
        case .final(let outcome):
            return outcome
        case .syn(let segment):
            let ceiling = segment.family == .ipv4 ? ceilingIPv4 : ceilingIPv6
            return apply(ceiling: ceiling, to: segment, in: buffer, length: &length, settings: settings)
        }
    }

    /// Rewrites a classified SYN against one ceiling.
    /// - Parameters:
    ///   - ceiling: the highest MSS allowed for this packet.
    ///   - segment: the result of `SYNSegment.classify` on the same bytes.
    ///   - buffer: the packet with spare capacity after `length`.
    ///   - length: the packet length; on insertion it becomes `segment.ipLength + 4` (link padding after the
    ///     IP packet is dropped, since the packet is rebuilt).
    @inlinable
    public static func apply(
        ceiling: UInt16, to segment: SYNSegment, in buffer: UnsafeMutableRawBufferPointer, length: inout Int,
        settings: RewriteSettings
    ) -> RewriteOutcome {
        // A first fragment's checksum covers bytes that are not here; a full recompute is impossible.
        if segment.isFirstFragment && !settings.checksumReady { return .fragment }
        if segment.mssCount == 0 {
            return insert(ceiling: ceiling, into: segment, in: buffer, length: &length, settings: settings)
        }
        // Never raise: options at or below the ceiling keep their value.
        guard segment.highestMSS > ceiling else {
            if let reason = segment.optionFailure { return .malformed(reason) }
            return .alreadyLow(mss: segment.highestMSS)
        }
        let tcpBytes = buffer.unchecked(segment.tcpOffset, segment.ipLength)  // validated by classify
        let tcp = MutableTCPHeader(unchecked: tcpBytes)
        var checksum = tcp.checksum
        var lowered = 0
        // Every MSS option the receiver reads is clamped: receivers differ in which one they honour (Linux
        // keeps the last). classify walked these options up to `optionsEnd`, so the second pass skips the
        // length checks; bytes from a malformation on are never touched.
        TCPOptionWalk(tcp.options).forEachValidatedMSS(end: segment.optionsEnd) { optionOffset in
            let valueOffset = TCPField.fixedLength &+ optionOffset &+ 2
            let old = tcpBytes.u16(valueOffset)
            if old > ceiling {
                tcpBytes.setU16(valueOffset, ceiling)
                checksum = InternetChecksum.update(checksum, old: old, new: ceiling, oddOffset: valueOffset & 1 == 1)
                lowered &+= 1
            }
        }
        if settings.checksumReady {
            tcp.setChecksum(checksum)
        } else {
            fillChecksumFromPseudoHeaderSum(tcp)
        }
        if let reason = segment.optionFailure {
            return .clampedMalformed(from: segment.highestMSS, to: ceiling, count: lowered, reason: reason)
        }
        return .clamped(from: segment.highestMSS, to: ceiling, count: lowered)
    }

    /// Inserts an MSS option at the start of the options, as the kernel's `TCPMSS` target does, when the
    /// SYN has no payload and the header has room.
    @inlinable
    static func insert(
        ceiling: UInt16, into segment: SYNSegment, in buffer: UnsafeMutableRawBufferPointer, length: inout Int,
        settings: RewriteSettings
    ) -> RewriteOutcome {
        guard settings.insertMissing else { return .missingMSS(.insertionDisabled) }
        guard !segment.isFirstFragment else { return .missingMSS(.firstFragment) }
        // Data after the header would have to move, and the bigger SYN might no longer fit the path.
        guard segment.payloadLength == 0 else { return .missingMSS(.hasPayload) }
        // Data offset is 4 bits: a 60-byte header cannot grow by a word without wrapping to 0.
        guard segment.tcpHeaderLength + TCPOptionKind.mssLength <= TCPField.maximumLength else {
            return .missingMSS(.noRoom)
        }
        let newLength = segment.ipLength + TCPOptionKind.mssLength
        guard newLength <= buffer.count, newLength <= 0xffff else { return .missingMSS(.noCapacity) }

        let mss = min(ceiling, segment.family.defaultMSS)
        let optionsStart = segment.tcpOffset + TCPField.fixedLength
        let oldSegmentLength = segment.segmentLength
        let tcpBytes = buffer.unchecked(segment.tcpOffset, newLength)  // newLength <= buffer.count checked above
        let tcp = MutableTCPHeader(unchecked: tcpBytes)
        let oldOffsetWord = tcpBytes.u16(TCPField.dataOffsetFlags)

        // Shift the existing options (the header is the whole segment: no payload) right by one word.
        let existing = segment.ipLength - optionsStart
        if existing > 0 {
            let base = buffer.baseAddress!  // non-nil: newLength <= buffer.count and newLength > 0
            (base + optionsStart + TCPOptionKind.mssLength).copyMemory(from: base + optionsStart, byteCount: existing)
        }
        buffer.setU8(optionsStart, TCPOptionKind.maximumSegmentSize)
        buffer.setU8(optionsStart + 1, UInt8(TCPOptionKind.mssLength))
        buffer.setU16(optionsStart + 2, mss)
        // The new word is computed, not read back: a 16-bit load right after the 8-bit store of the data
        // offset cannot be forwarded from the store buffer and stalls for ~10 cycles.
        let newOffsetWord =
            oldOffsetWord & 0x0fff | UInt16((segment.tcpHeaderLength + TCPOptionKind.mssLength) / 4) << 12
        tcpBytes.setU16(TCPField.dataOffsetFlags, newOffsetWord)

        switch segment.family {
        case .ipv4:
            let ip = MutableIPv4Header(unchecked: buffer)
            let oldTotal = UInt16(segment.ipLength)
            ip.setTotalLength(newLength)
            ip.setHeaderChecksum(InternetChecksum.update(ip.headerChecksum, old: oldTotal, new: UInt16(newLength)))
        case .ipv6:
            let ip = MutableIPv6Header(unchecked: buffer)
            ip.setPayloadLength(newLength - IPv6Field.fixedLength)
        }

        if settings.checksumReady {
            // Exact incremental update (the options moved by an even amount, so their words sum the same):
            // pseudo-header length, the data-offset word, and the two new words. A corrupt checksum stays
            // corrupt instead of being laundered by a full recompute.
            var checksum = tcp.checksum
            checksum = InternetChecksum.update(
                checksum, old: UInt16(oldSegmentLength), new: UInt16(oldSegmentLength + TCPOptionKind.mssLength))
            checksum = InternetChecksum.update(checksum, old: oldOffsetWord, new: newOffsetWord)
            checksum = InternetChecksum.update(checksum, old: 0, new: 0x0204)
            checksum = InternetChecksum.update(checksum, old: 0, new: mss)
            tcp.setChecksum(checksum)
        } else {
            // The field holds the folded pseudo-header sum; it grows with the TCP length.
            let seed = InternetChecksum.fold(UInt64(tcp.checksum) &+ UInt64(TCPOptionKind.mssLength))
            tcp.setChecksum(seed)
            fillChecksumFromPseudoHeaderSum(tcp)
        }
        length = newLength
        return .inserted(mss: mss)
    }

    /// Completes a checksum whose field holds the folded pseudo-header sum, as checksum offload leaves it
    /// (the kernel's `CHECKSUM_PARTIAL`): the full checksum is the complement of the sum over the whole
    /// segment with that seed in place. This needs no addresses, so IPv6 routing headers need no care.
    @inlinable
    static func fillChecksumFromPseudoHeaderSum(_ tcp: MutableTCPHeader) {
        tcp.setChecksum(InternetChecksum.finish(InternetChecksum.add(tcp.rawBytes)))
    }
}

extension MSSRewrite {
    /// Convenience for byte arrays: rewrites `packet` in place, growing it by 4 bytes on insertion.
    public static func rewrite(
        _ packet: inout [UInt8], ceilingIPv4: UInt16, ceilingIPv6: UInt16,
        settings: RewriteSettings = RewriteSettings()
    ) -> RewriteOutcome {
        var length = packet.count
        packet.append(contentsOf: [0, 0, 0, 0])
        let outcome = packet.withUnsafeMutableBytes { buffer in
            rewrite(buffer, length: &length, ceilingIPv4: ceilingIPv4, ceilingIPv6: ceilingIPv6, settings: settings)
        }
        packet.removeLast(packet.count - length)
        return outcome
    }
}
