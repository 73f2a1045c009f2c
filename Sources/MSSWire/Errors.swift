/// The protocol layer a wire error was found in.
public enum WireLayer: String, Sendable, Hashable {
    case ipv4, ipv6, tcp
}

/// Why a packet was judged malformed. The raw values are stable: counters are indexed by them.
public enum MalformedReason: UInt8, Error, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// Shorter than the fixed IPv4 (20) or IPv6 (40) header.
    case truncatedIPHeader = 0
    /// The version nibble is neither 4 nor 6 (or disagrees with the family the caller expected).
    case badIPVersion
    /// IPv4 IHL below 5 or pointing past the packet.
    case badIHL
    /// IPv4 total length smaller than the header or larger than the bytes present.
    case badTotalLength
    /// IPv6 payload length larger than the bytes present, or zero (jumbograms are not supported).
    case badPayloadLength
    /// An IPv6 extension header runs past the packet.
    case truncatedExtensionHeader
    /// Fewer than 20 bytes of TCP header.
    case truncatedTCPHeader
    /// TCP data offset below 5 or beyond the segment.
    case badDataOffset
    /// A TCP option whose length is 0 or 1, is missing, or runs past the header.
    case badOptionLength
    /// An MSS option (kind 2) whose length is not 4.
    case badMSSOptionLength

    /// A short snake_case name for counters and metrics labels.
    public var description: String {
        switch self {
        case .truncatedIPHeader: "truncated_ip_header"
        case .badIPVersion: "bad_ip_version"
        case .badIHL: "bad_ihl"
        case .badTotalLength: "bad_total_length"
        case .badPayloadLength: "bad_payload_length"
        case .truncatedExtensionHeader: "truncated_extension_header"
        case .truncatedTCPHeader: "truncated_tcp_header"
        case .badDataOffset: "bad_data_offset"
        case .badOptionLength: "bad_option_length"
        case .badMSSOptionLength: "bad_mss_option_length"
        }
    }
}

/// An error from a validating view constructor, with the data to explain it.
public enum WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes end before the layer does.
    case truncated(layer: WireLayer, required: Int, actual: Int)
    /// A field holds a value the layer cannot have.
    case invalid(layer: WireLayer, reason: MalformedReason)

    /// The counter key for this error.
    public var reason: MalformedReason {
        switch self {
        case .truncated(let layer, _, _):
            layer == .tcp ? .truncatedTCPHeader : .truncatedIPHeader
        case .invalid(_, let reason): reason
        }
    }

    public var description: String {
        switch self {
        case .truncated(let layer, let required, let actual):
            "\(layer.rawValue): truncated, \(required) bytes required, \(actual) present"
        case .invalid(let layer, let reason):
            "\(layer.rawValue): \(reason)"
        }
    }
}
