// libFuzzer target over the MSS rewrite, built by `scripts/fuzz` with -sanitize=fuzzer,address together
// with the MSSWire sources and the fixtures (as seeds).
//
// Input layout: 2 bytes ceiling (big-endian), 1 byte flags (bit 0: insert missing, bit 1: checksum not
// ready), then the IP packet. Every property below traps on failure, which libFuzzer reports as a crash.

#if canImport(Glibc)
    import Glibc
#endif

/// The word sum of the TCP pseudo-header of `segment`.
func pseudoHeaderSum(_ packet: UnsafeRawBufferPointer, _ segment: SYNSegment) -> UInt64 {
    switch segment.family {
    case .ipv4:
        let ip = IPv4Header(unchecked: packet)
        return InternetChecksum.pseudoHeaderIPv4(
            source: ip.source, destination: ip.destination, protocolNumber: 6, length: segment.segmentLength)
    case .ipv6:
        return InternetChecksum.pseudoHeaderIPv6(
            addresses: IPv6Header(unchecked: packet).addressPair, protocolNumber: 6, length: segment.segmentLength)
    }
}

/// The ones' complement checksum over a TCP segment and its pseudo-header, folded: 0xffff when valid.
func tcpChecksumSum(_ packet: UnsafeRawBufferPointer, _ segment: SYNSegment) -> UInt16 {
    let tcp = UnsafeRawBufferPointer(rebasing: packet[segment.tcpOffset..<segment.ipLength])
    return InternetChecksum.fold(InternetChecksum.add(tcp) &+ pseudoHeaderSum(packet, segment))
}

/// The receiver's view, written from Linux's `tcp_parse_options` and nothing of MSSWire's option walk:
/// the MSS values (options of kind 2, length 4) read up to end-of-list or the first option that cannot be
/// walked, and the packet offset where the reading stopped.
func receiverView(_ packet: UnsafeRawBufferPointer, _ segment: SYNSegment) -> (mss: [UInt16], stop: Int) {
    let start = segment.tcpOffset
    let end = start + Int(packet[start + 12] >> 4) * 4
    var values: [UInt16] = []
    var index = start + 20
    while index < end {
        let kind = packet[index]
        if kind == 0 { return (values, index) }
        if kind == 1 {
            index += 1
            continue
        }
        if end - index < 2 { return (values, index) }
        let size = Int(packet[index + 1])
        if size < 2 || size > end - index { return (values, index) }
        if kind == 2 && size == 4 { values.append(UInt16(packet[index + 2]) << 8 | UInt16(packet[index + 3])) }
        index += size
    }
    return (values, end)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRewrite(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let ceiling = UInt16(data[0]) << 8 | UInt16(data[1])
    let settings = RewriteSettings(insertMissing: data[2] & 1 != 0, checksumReady: data[2] & 2 == 0)
    var original = Array(UnsafeBufferPointer(start: data + 3, count: size - 3))
    let before: PacketClassification = original.withUnsafeBytes { SYNSegment.classify($0) }
    if !settings.checksumReady, case .syn(let segment) = before {
        // A not-ready checksum field holds the folded pseudo-header sum, as checksum offload leaves it.
        original.withUnsafeMutableBytes { bytes in
            let tcp = MutableTCPHeader(unchecked: UnsafeMutableRawBufferPointer(rebasing: bytes[segment.tcpOffset..<segment.ipLength]))
            tcp.setChecksum(InternetChecksum.fold(pseudoHeaderSum(UnsafeRawBufferPointer(bytes), segment)))
        }
    }
    var packet = original + [0xa5, 0xa5, 0xa5, 0xa5]
    var length = original.count
    let outcome = packet.withUnsafeMutableBytes {
        MSSRewrite.rewrite($0, length: &length, ceilingIPv4: ceiling, ceilingIPv6: ceiling, settings: settings)
    }

    guard outcome.modifiedPacket else {
        // Anything not modified is byte-identical, slack included.
        precondition(length == original.count && Array(packet[0..<length]) == original, "unmodified outcome changed bytes")
        precondition(packet[original.count...].allSatisfy { $0 == 0xa5 }, "wrote past the packet")
        // A SYN left alone is one whose receiver reads nothing above the ceiling (a first fragment whose
        // checksum cannot be finished excepted).
        if case .syn(let segment) = before, outcome != .fragment {
            original.withUnsafeBytes { bytes in
                precondition(receiverView(bytes, segment).mss.allSatisfy { $0 <= ceiling }, "left an MSS above the ceiling")
            }
        }
        return 0
    }
    guard case .syn(let segmentBefore) = before else { preconditionFailure("modified a packet that is not a SYN") }
    precondition(length == original.count || length == segmentBefore.ipLength + 4, "unexpected length")
    let after = Array(packet[0..<length])
    after.withUnsafeBytes { bytes in
        guard case .syn(let segmentAfter) = SYNSegment.classify(bytes) else {
            preconditionFailure("the rewritten packet no longer parses as a SYN")
        }
        let viewAfter = receiverView(bytes, segmentAfter)
        precondition(viewAfter.mss.allSatisfy { $0 <= ceiling }, "the receiver still reads an MSS above the ceiling")
        original.withUnsafeBytes { originalBytes in
            let viewBefore = receiverView(originalBytes, segmentBefore)
            if case .inserted(let mss) = outcome {
                precondition(viewBefore.mss.isEmpty && viewAfter.mss == [mss], "insertion")
            } else {
                precondition(viewAfter.mss == viewBefore.mss.map { min($0, ceiling) }, "MSS must become min(old, ceiling)")
                // Nothing from the malformation (where the receiver stopped reading) on is touched.
                precondition(Array(bytes[viewBefore.stop..<length]) == Array(originalBytes[viewBefore.stop..<length]),
                             "bytes the receiver does not read were changed")
            }
            // A valid checksum stays valid; with a not-ready checksum the result is always complete.
            if !settings.checksumReady || tcpChecksumSum(originalBytes, segmentBefore) == 0xffff {
                precondition(tcpChecksumSum(bytes, segmentAfter) == 0xffff, "checksum broken by the rewrite")
            }
            if segmentAfter.family == .ipv4 {
                precondition(IPv4Header(unchecked: bytes).headerChecksumValid
                    || !IPv4Header(unchecked: originalBytes).headerChecksumValid, "IPv4 header checksum broken")
            }
        }
    }
    // Idempotent: a second pass changes nothing.
    var again = after + [0, 0, 0, 0]
    var againLength = after.count
    let second = again.withUnsafeMutableBytes {
        MSSRewrite.rewrite($0, length: &againLength, ceilingIPv4: ceiling, ceilingIPv6: ceiling, settings: RewriteSettings(insertMissing: settings.insertMissing))
    }
    precondition(!second.modifiedPacket && Array(again[0..<againLength]) == after, "second pass changed the packet")
    return 0
}

/// Writes the fixtures as seed inputs when MSSCLAMP_FUZZ_SEEDS names a directory.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>>>) -> CInt {
    guard let directory = getenv("MSSCLAMP_FUZZ_SEEDS").map({ String(cString: $0) }) else { return 0 }
    let seeds = Fixtures.all.map(\.bytes) + Fixtures.receiverTraps.map(\.bytes)
    for (index, fixture) in seeds.enumerated() {
        for (variant, header) in ([[0x05, 0x50, 0x01], [0x02, 0x00, 0x03], [0xff, 0xff, 0x00]] as [[UInt8]]).enumerated() {
            let bytes: [UInt8] = header + fixture
            let path = "\(directory)/seed-\(index)-\(variant)"
            guard let file = fopen(path, "wb") else { continue }
            _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            fclose(file)
        }
    }
    return 0
}
