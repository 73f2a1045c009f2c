// The TOML reader's lexer: it walks the UTF-8 bytes, counts lines (LF or CRLF) and reads the parts of a
// line that are not values.

/// A position in the document's bytes (already checked to be UTF-8): line ends, blanks, comments, keys and
/// table names. Values are read by the extension in TOMLValueScanner.swift.
struct TOMLScanner {
    let bytes: [UInt8]
    var position = 0
    var line = 1

    init(bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }
    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func advance() { position += 1 }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        position += 1
        return true
    }

    mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 { position += 1 }
    }

    /// A line end (LF or CRLF); false when not at one. A CR alone is an error.
    mutating func consumeLineEnd() throws(TOMLSyntaxError) -> Bool {
        if peek == 0x0a {
            position += 1
            line += 1
            return true
        }
        if peek == 0x0d {
            guard position + 1 < bytes.count, bytes[position + 1] == 0x0a else {
                throw TOMLSyntaxError(line: line, message: "a carriage return (CR) without a line feed; lines end with LF or CRLF")
            }
            position += 2
            line += 1
            return true
        }
        return false
    }

    /// From '#' to the line end; control characters other than tab are not allowed in comments.
    mutating func skipComment() throws(TOMLSyntaxError) {
        while let byte = peek, byte != 0x0a {
            if byte == 0x0d, position + 1 < bytes.count, bytes[position + 1] == 0x0a { return }
            if Self.isControl(byte) {
                throw TOMLSyntaxError(line: line, message: "a control character (0x\(String(byte, radix: 16))) in a comment")
            }
            position += 1
        }
    }

    /// Whitespace, an optional comment, then a line end or the end of the document.
    mutating func expectLineEnd(after what: String) throws(TOMLSyntaxError) {
        skipWhitespace()
        if peek == UInt8(ascii: "#") { try skipComment() }
        if atEnd { return }
        guard try consumeLineEnd() else {
            throw TOMLSyntaxError(line: line, message: "unexpected text after \(what)")
        }
    }

    /// Skips whitespace, line ends and comments (inside arrays).
    mutating func skipBlank() throws(TOMLSyntaxError) {
        while true {
            skipWhitespace()
            if peek == UInt8(ascii: "#") { try skipComment() }
            guard try consumeLineEnd() else { return }
        }
    }

    static func isControl(_ byte: UInt8) -> Bool { (byte < 0x20 && byte != 0x09) || byte == 0x7f }

    static func isBareKey(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x5f || byte == 0x2d
    }

    /// A bare key: A-Z a-z 0-9 _ - (possibly empty).
    mutating func bareKey() -> String {
        let start = position
        while let byte = peek, Self.isBareKey(byte) { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// The key of a `key = value` line.
    mutating func key() throws(TOMLSyntaxError) -> String {
        let key = bareKey()
        if key.isEmpty {
            if peek == UInt8(ascii: "\"") || peek == UInt8(ascii: "'") {
                throw TOMLSyntaxError(line: line, message: "quoted keys are not supported; use a bare key")
            }
            throw TOMLSyntaxError(line: line, message: "expected a key, a [table] or a comment")
        }
        skipWhitespace()
        if peek == UInt8(ascii: ".") {
            throw TOMLSyntaxError(line: line, message: "dotted keys ('\(key).…') are not supported")
        }
        return key
    }

    /// The name inside `[ ]` or `[[ ]]`.
    mutating func tableName() throws(TOMLSyntaxError) -> String {
        let name = bareKey()
        if name.isEmpty {
            if peek == UInt8(ascii: "\"") || peek == UInt8(ascii: "'") {
                throw TOMLSyntaxError(line: line, message: "quoted table names are not supported")
            }
            throw TOMLSyntaxError(line: line, message: "expected a table name after '['")
        }
        skipWhitespace()
        if peek == UInt8(ascii: ".") {
            throw TOMLSyntaxError(line: line, message: "dotted table names ('[\(name).…]') are not supported")
        }
        return name
    }
}
