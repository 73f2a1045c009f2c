// The VICI message format (strongSwan's src/libcharon/plugins/vici/README.md, "Message format"): an
// ordered tree of key/values, lists of values and named sections, every value a byte string.

/// Why bytes are not a VICI message or packet.
public struct VICIError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One message: the implicit root section.
public struct VICIMessage: Sendable, Hashable {
    /// What a key holds.
    public enum Element: Sendable, Hashable {
        case value([UInt8])
        case list([[UInt8]])
        case section(VICIMessage)
    }

    /// A named element of a section, in the order it came.
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var element: Element

        public init(_ key: String, _ element: Element) {
            self.key = key
            self.element = element
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    /// A section of string values (what requests need).
    public init(_ values: KeyValuePairs<String, String>) {
        entries = values.map { Entry($0.key, .value(Array($0.value.utf8))) }
    }

    public subscript(key: String) -> Element? { entries.first { $0.key == key }?.element }

    /// A key's value as text (charon sends numbers as text too).
    public func string(_ key: String) -> String? {
        guard case .value(let bytes) = self[key] else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A list's items as text; empty when the key is missing or not a list.
    public func strings(_ key: String) -> [String] {
        guard case .list(let items) = self[key] else { return [] }
        return items.map { String(decoding: $0, as: UTF8.self) }
    }

    public func section(_ key: String) -> VICIMessage? {
        guard case .section(let section) = self[key] else { return nil }
        return section
    }

    /// The sub-sections, in order, with their names (e.g. the IKE_SAs of a `list-sa` event).
    public var sections: [(name: String, section: VICIMessage)] {
        entries.compactMap { entry in
            if case .section(let section) = entry.element { (entry.key, section) } else { nil }
        }
    }

    // Element types (README, "Message format").
    static let sectionStart: UInt8 = 1, sectionEnd: UInt8 = 2, keyValue: UInt8 = 3
    static let listStart: UInt8 = 4, listItem: UInt8 = 5, listEnd: UInt8 = 6
    /// Sections nested deeper than this are refused: charon's messages nest four levels.
    public static let maximumDepth = 32

    /// The encoding: element type, 8-bit-length name, 16-bit-length value.
    public func encoded() throws(VICIError) -> [UInt8] {
        var bytes: [UInt8] = []
        try encode(into: &bytes)
        return bytes
    }

    func encode(into bytes: inout [UInt8]) throws(VICIError) {
        func name(_ key: String) throws(VICIError) {
            let utf8 = Array(key.utf8)
            guard utf8.count <= 255 else { throw VICIError("key '\(key.prefix(40))…' is longer than 255 bytes") }
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        func value(_ data: [UInt8]) throws(VICIError) {
            guard data.count <= 0xffff else { throw VICIError("a value of \(data.count) bytes is over 65535") }
            bytes += [UInt8(data.count >> 8), UInt8(data.count & 0xff)]
            bytes += data
        }
        for entry in entries {
            switch entry.element {
            case .value(let data):
                bytes.append(Self.keyValue)
                try name(entry.key)
                try value(data)
            case .list(let items):
                bytes.append(Self.listStart)
                try name(entry.key)
                for item in items {
                    bytes.append(Self.listItem)
                    try value(item)
                }
                bytes.append(Self.listEnd)
            case .section(let section):
                bytes.append(Self.sectionStart)
                try name(entry.key)
                try section.encode(into: &bytes)
                bytes.append(Self.sectionEnd)
            }
        }
    }

    /// Decodes a whole message; anything malformed (truncated, unbalanced, a list item outside a list, too
    /// deep) is an error naming the offset.
    public init(decoding bytes: ArraySlice<UInt8>) throws(VICIError) {
        var reader = Reader(bytes: bytes)
        self = try reader.section(depth: 0)
        guard reader.atEnd else { throw VICIError("a section end without a start at offset \(reader.offset)") }
    }

    /// A cursor over the bytes of one message.
    struct Reader {
        let bytes: ArraySlice<UInt8>
        var index: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            index = bytes.startIndex
        }

        var atEnd: Bool { index == bytes.endIndex }
        var offset: Int { index - bytes.startIndex }

        mutating func byte() throws(VICIError) -> UInt8 {
            guard index < bytes.endIndex else { throw VICIError("the message ends early at offset \(offset)") }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func take(_ count: Int) throws(VICIError) -> [UInt8] {
            guard bytes.endIndex - index >= count else { throw VICIError("the message ends early at offset \(offset)") }
            defer { index += count }
            return Array(bytes[index..<index + count])
        }

        mutating func name() throws(VICIError) -> String {
            let length = Int(try byte())
            return String(decoding: try take(length), as: UTF8.self)
        }

        mutating func value() throws(VICIError) -> [UInt8] {
            let length = Int(try byte()) << 8 | Int(try byte())
            return try take(length)
        }

        /// Elements until a section end (consumed) or, at depth 0, the end of the bytes.
        mutating func section(depth: Int) throws(VICIError) -> VICIMessage {
            guard depth <= VICIMessage.maximumDepth else {
                throw VICIError("sections nested deeper than \(VICIMessage.maximumDepth) at offset \(offset)")
            }
            var message = VICIMessage()
            while !atEnd {
                let type = try byte()
                switch type {
                case VICIMessage.sectionEnd:
                    guard depth > 0 else {
                        throw VICIError("a section end without a start at offset \(offset - 1)")
                    }
                    return message
                case VICIMessage.sectionStart:
                    let key = try name()
                    message.entries.append(Entry(key, .section(try section(depth: depth + 1))))
                case VICIMessage.keyValue:
                    let key = try name()
                    message.entries.append(Entry(key, .value(try value())))
                case VICIMessage.listStart:
                    let key = try name()
                    var items: [[UInt8]] = []
                    while true {
                        let itemType = try byte()
                        if itemType == VICIMessage.listEnd { break }
                        guard itemType == VICIMessage.listItem else {
                            throw VICIError("element type \(itemType) inside list '\(key)' at offset \(offset - 1)")
                        }
                        items.append(try value())
                    }
                    message.entries.append(Entry(key, .list(items)))
                default:
                    throw VICIError("unknown element type \(type) at offset \(offset - 1)")
                }
            }
            guard depth == 0 else { throw VICIError("the message ends inside a section") }
            return message
        }
    }
}
