import CPcap

#if canImport(Glibc)
    import Glibc
#endif

/// Errors reading or writing capture files, each mapped to a sysexits code.
public enum CaptureError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The input is missing or unreadable (exit 66, EX_NOINPUT).
    case cannotOpen(path: String, message: String)
    /// The input is not a capture libpcap understands, or is damaged (exit 65, EX_DATAERR).
    case badCapture(path: String, message: String)
    /// The capture uses a link type this tool does not rewrite (exit 65).
    case unsupportedLinkType(path: String, dlt: Int32, name: String)
    /// The output cannot be written (exit 73, EX_CANTCREAT).
    case cannotWrite(path: String, message: String)

    public var exitCode: Int32 {
        switch self {
        case .cannotOpen: 66
        case .badCapture, .unsupportedLinkType: 65
        case .cannotWrite: 73
        }
    }

    public var description: String {
        switch self {
        case .cannotOpen(let path, let message): "cannot read \(path): \(message)"
        case .badCapture(let path, let message): "\(path) is not a usable capture: \(message)"
        case .unsupportedLinkType(let path, let dlt, let name):
            "\(path): link type \(name) (\(dlt)) is not supported; supported are Ethernet, raw IP, "
                + "Linux cooked v1 and v2"
        case .cannotWrite(let path, let message): "cannot write \(path): \(message)"
        }
    }
}

/// One packet record: timestamp, lengths and the captured bytes (valid until the next read).
public struct CaptureRecord {
    public var seconds: Int
    public var subseconds: Int
    /// Length on the wire.
    public var originalLength: Int
    public var bytes: UnsafeRawBufferPointer
}

/// Reads pcap and pcapng files through libpcap. Owns its `pcap_t`.
public final class PcapReader {
    private let handle: OpaquePointer
    public let path: String
    public let dlt: Int32
    public let linkType: LinkType
    public let snapshotLength: Int
    /// True when timestamps are read with nanosecond precision (nanosecond pcap or pcapng input).
    public let nanosecondPrecision: Bool

    /// Opens `path`; fails on missing files, non-captures and link types that cannot be rewritten.
    public init(path: String) throws(CaptureError) {
        self.path = path
        guard access(path, R_OK) == 0 else {
            throw .cannotOpen(path: path, message: String(cString: strerror(errno)))
        }
        let nano = Self.fileHasNanosecondTimestamps(path)
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        let precision = UInt32(nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO)
        guard let opened = pcap_open_offline_with_tstamp_precision(path, precision, &errorBuffer) else {
            throw .badCapture(path: path, message: errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        let dlt = pcap_datalink(opened)
        guard let linkType = LinkType(dlt: dlt) else {
            let name = pcap_datalink_val_to_name(dlt).map { String(cString: $0) } ?? "unknown"
            pcap_close(opened)
            throw .unsupportedLinkType(path: path, dlt: dlt, name: name)
        }
        handle = opened
        self.dlt = dlt
        self.linkType = linkType
        snapshotLength = Int(pcap_snapshot(opened))
        nanosecondPrecision = nano
    }

    deinit { pcap_close(handle) }

    /// The next record, nil at the end of the file.
    /// - Throws: `CaptureError.badCapture` when the file is damaged (for example cut in the middle of a record).
    public func next() throws(CaptureError) -> CaptureRecord? {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        switch pcap_next_ex(handle, &header, &data) {
        case 1:
            guard let header, let data else { return nil }
            let record = header.pointee
            return CaptureRecord(
                seconds: Int(record.ts.tv_sec), subseconds: Int(record.ts.tv_usec),
                originalLength: Int(record.len),
                bytes: UnsafeRawBufferPointer(start: data, count: Int(record.caplen)))
        case PCAP_ERROR_BREAK:
            return nil
        default:
            throw .badCapture(path: path, message: String(cString: pcap_geterr(handle)))
        }
    }

    /// Nanosecond pcap (magic a1b23c4d in either byte order) and pcapng (which may carry nanoseconds) are read
    /// with nanosecond timestamps so that none are lost; classic pcap stays at microseconds.
    private static func fileHasNanosecondTimestamps(_ path: String) -> Bool {
        guard let file = fopen(path, "rb") else { return false }
        defer { fclose(file) }
        var magic: UInt32 = 0
        guard fread(&magic, 4, 1, file) == 1 else { return false }
        return [0xa1b2_3c4d, 0x4d3c_b2a1, 0x0a0d_0d0a].contains(magic)
    }
}

/// Writes a classic pcap file through libpcap. Owns its `pcap_t` and dumper.
public final class PcapWriter {
    private let dead: OpaquePointer
    private let dumper: OpaquePointer
    public let path: String

    public init(path: String, dlt: Int32, snapshotLength: Int, nanosecondPrecision: Bool) throws(CaptureError) {
        self.path = path
        let precision = UInt32(nanosecondPrecision ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO)
        guard let dead = pcap_open_dead_with_tstamp_precision(dlt, Int32(snapshotLength), precision) else {
            throw .cannotWrite(path: path, message: "libpcap could not create a writer")
        }
        guard let dumper = pcap_dump_open(dead, path) else {
            let message = String(cString: pcap_geterr(dead))
            pcap_close(dead)
            throw .cannotWrite(path: path, message: message)
        }
        self.dead = dead
        self.dumper = dumper
    }

    /// Appends one record.
    public func write(seconds: Int, subseconds: Int, originalLength: Int, bytes: UnsafeRawBufferPointer) {
        var header = pcap_pkthdr()
        header.ts.tv_sec = seconds
        header.ts.tv_usec = subseconds
        header.caplen = UInt32(bytes.count)
        header.len = UInt32(originalLength)
        // pcap_dump takes the dumper as its opaque "user" pointer. An empty record has no base address;
        // libpcap copies caplen (0) bytes from whatever pointer it gets, so any valid one does.
        let user = UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self)
        if let base = bytes.baseAddress {
            pcap_dump(user, &header, base.assumingMemoryBound(to: UInt8.self))
        } else {
            var empty: UInt8 = 0
            pcap_dump(user, &header, &empty)
        }
    }

    /// Flushes and reports whether every record reached the file.
    public func finish() throws(CaptureError) {
        guard pcap_dump_flush(dumper) == 0, ferror(pcap_dump_file(dumper)) == 0 else {
            throw .cannotWrite(path: path, message: String(cString: strerror(errno)))
        }
    }

    deinit {
        pcap_dump_close(dumper)
        pcap_close(dead)
    }
}
