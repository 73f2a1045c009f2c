// The VICI packet layer (README, "Transport protocol" and "Packet layer"): a 32-bit big-endian length,
// then a packet type, a name for the named types, and a message.

/// The packet types of VICI.
public enum VICIPacketType: UInt8, Sendable, Hashable {
    case commandRequest = 0
    case commandResponse = 1
    case commandUnknown = 2
    case eventRegister = 3
    case eventUnregister = 4
    case eventConfirm = 5
    case eventUnknown = 6
    case event = 7

    /// Requests, registrations and events carry a name; responses do not.
    var isNamed: Bool { [.commandRequest, .eventRegister, .eventUnregister, .event].contains(self) }
}

/// One packet.
public struct VICIPacket: Sendable, Hashable {
    public var type: VICIPacketType
    public var name: String?
    public var message: VICIMessage

    public init(_ type: VICIPacketType, name: String? = nil, message: VICIMessage = VICIMessage()) {
        self.type = type
        self.name = name
        self.message = message
    }

    /// charon takes and sends at most 512 KiB per packet; a longer length is not VICI.
    public static let maximumLength = 512 * 1024

    /// The bytes on the wire, length header included.
    public func encoded() throws(VICIError) -> [UInt8] {
        var body: [UInt8] = [type.rawValue]
        if type.isNamed {
            let utf8 = Array((name ?? "").utf8)
            guard utf8.count <= 255 else { throw VICIError("packet name is longer than 255 bytes") }
            body.append(UInt8(utf8.count))
            body += utf8
        }
        if type == .commandRequest || type == .commandResponse || type == .event {
            body += try message.encoded()
        }
        guard body.count <= Self.maximumLength else { throw VICIError("a packet of \(body.count) bytes is over 512 KiB") }
        let length = UInt32(body.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + body
    }

    /// A packet from the bytes after its length header.
    public init(decoding body: ArraySlice<UInt8>) throws(VICIError) {
        guard let first = body.first else { throw VICIError("an empty packet") }
        guard let type = VICIPacketType(rawValue: first) else { throw VICIError("unknown packet type \(first)") }
        self.type = type
        var index = body.startIndex + 1
        if type.isNamed {
            guard index < body.endIndex else { throw VICIError("a \(type) packet without its name") }
            let length = Int(body[index])
            index += 1
            guard body.endIndex - index >= length else { throw VICIError("a \(type) packet's name is cut short") }
            name = String(decoding: body[index..<index + length], as: UTF8.self)
            index += length
        }
        message = try VICIMessage(decoding: body[index...])
    }

    /// The length in a header, or an error when it is over the limit.
    public static func length(header: [UInt8]) throws(VICIError) -> Int {
        let length = header.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        guard length >= 1, length <= maximumLength else {
            throw VICIError("a packet length of \(length) bytes (VICI allows 1 to 512 KiB)")
        }
        return length
    }
}
