// Reading TOML (v1.0.0) for the policy file, with the line of every key and value kept so that an error
// can name file, line and key.
//
// The promise: every valid TOML document is either read exactly as TOML means it, or refused with the
// construct and its line; nothing that is not valid TOML is accepted. Supported: comments, `[table]`,
// `[[array of tables]]`, `key = value` with bare keys, basic and literal strings, integers (decimal with
// `_`, 0x/0o/0b), booleans, and arrays of those (over several lines, with comments and a trailing
// comma), with LF or CRLF line ends. Refused although valid TOML, each by name: floats, dates and times,
// inline tables, dotted or quoted keys and table names, multi-line strings, integers beyond 64 bits, and
// a byte order mark. A property test checks all this against Python's `tomllib` (docs/policy.md).
//
// It works on the UTF-8 bytes, not on Swift Characters: "\r\n" is one Character, which is how a CRLF
// file that began with a comment used to read as one long comment (an empty policy).

/// A value and the line it starts on.
public struct TOMLValue: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case string(String)
        case integer(Int)
        case boolean(Bool)
        case array([TOMLValue])
    }

    public var kind: Kind
    public var line: Int

    public init(kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
    }

    /// "string", "integer", "boolean" or "array", for error messages.
    public var typeName: String {
        switch kind {
        case .string: "string"
        case .integer: "integer"
        case .boolean: "boolean"
        case .array: "array"
        }
    }
}

/// One `key = value` line.
public struct TOMLEntry: Sendable, Hashable {
    public var key: String
    public var value: TOMLValue
    public var line: Int

    public init(key: String, value: TOMLValue, line: Int) {
        self.key = key
        self.value = value
        self.line = line
    }
}

/// A table: the root, a `[name]` or one element of a `[[name]]`.
public struct TOMLTable: Sendable, Hashable {
    /// Its header name ("" for the root).
    public var name: String
    /// The line of its header (0 for the root).
    public var line: Int
    /// Entries in file order (a handful per table: found by a scan, no hashing).
    public var entries: [TOMLEntry] = []

    public init(name: String, line: Int, entries: [TOMLEntry] = []) {
        self.name = name
        self.line = line
        self.entries = entries
    }

    public subscript(key: String) -> TOMLEntry? { entries.first { $0.key == key } }

    public mutating func append(_ entry: TOMLEntry) { entries.append(entry) }
}

/// A parsed file: tables in file order.
public struct TOMLDocument: Sendable, Hashable {
    public var root = TOMLTable(name: "", line: 0)
    /// `[name]` tables and `[[name]]` elements in file order; `isArrayElement` tells them apart.
    public var tables: [(table: TOMLTable, isArrayElement: Bool)] = []

    public static func == (lhs: TOMLDocument, rhs: TOMLDocument) -> Bool {
        lhs.root == rhs.root && lhs.tables.map(\.table) == rhs.tables.map(\.table)
            && lhs.tables.map(\.isArrayElement) == rhs.tables.map(\.isArrayElement)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(root)
        for (table, isArray) in tables {
            hasher.combine(table)
            hasher.combine(isArray)
        }
    }
}

/// A syntax error with its line (1-based).
public struct TOMLSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

/// The reader described at the top of this file.
public struct TOMLReader {
    private let bytes: [UInt8]

    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Reads the whole document.
    /// - Throws: the first error, with its line.
    public func parse() throws(TOMLSyntaxError) -> TOMLDocument {
        try Self.validateEncoding(bytes)
        var scanner = Scanner(bytes: bytes)
        var document = TOMLDocument()
        var current = TOMLTable(name: "", line: 0)
        var currentIsArray = false
        var inRoot = true
        var staticTables: Set<String> = []
        var arrayTables: Set<String> = []

        func finish(_ table: TOMLTable) {
            if inRoot { document.root = table } else { document.tables.append((table, currentIsArray)) }
        }

        while !scanner.atEnd {
            scanner.skipWhitespace()
            if try scanner.consumeLineEnd() { continue }
            if scanner.peek == UInt8(ascii: "#") {
                try scanner.skipComment()
                _ = try scanner.consumeLineEnd()
                continue
            }
            let line = scanner.line
            if scanner.peek == UInt8(ascii: "[") {
                scanner.advance()
                let isArray = scanner.peek == UInt8(ascii: "[")
                if isArray { scanner.advance() }
                scanner.skipWhitespace()
                let name = try scanner.tableName()
                scanner.skipWhitespace()
                guard scanner.consume(UInt8(ascii: "]")), !isArray || scanner.consume(UInt8(ascii: "]")) else {
                    throw TOMLSyntaxError(line: line, message: "expected '\(isArray ? "]]" : "]")' after table name '\(name)'")
                }
                try scanner.expectLineEnd(after: "the table header")
                if isArray {
                    guard !staticTables.contains(name) else {
                        throw TOMLSyntaxError(line: line, message: "'\(name)' is used both as [\(name)] and [[\(name)]]")
                    }
                    arrayTables.insert(name)
                } else {
                    guard !arrayTables.contains(name) else {
                        throw TOMLSyntaxError(line: line, message: "'\(name)' is used both as [\(name)] and [[\(name)]]")
                    }
                    guard staticTables.insert(name).inserted else {
                        throw TOMLSyntaxError(line: line, message: "table [\(name)] is defined twice")
                    }
                }
                guard document.root[name] == nil && !(inRoot && current[name] != nil) else {
                    throw TOMLSyntaxError(line: line, message: "'\(name)' is already a key of the top level")
                }
                finish(current)
                current = TOMLTable(name: name, line: line)
                currentIsArray = isArray
                inRoot = false
                continue
            }
            let key = try scanner.key()
            scanner.skipWhitespace()
            guard scanner.consume(UInt8(ascii: "=")) else {
                throw TOMLSyntaxError(line: line, message: "expected '=' after key '\(key)'")
            }
            scanner.skipWhitespace()
            guard current[key] == nil else {
                throw TOMLSyntaxError(line: line, message: "key '\(key)' is set twice in the same table")
            }
            if inRoot && (staticTables.contains(key) || arrayTables.contains(key)) {
                throw TOMLSyntaxError(line: line, message: "'\(key)' is already a table")
            }
            let value = try scanner.value(key: key)
            try scanner.expectLineEnd(after: "the value of '\(key)'")
            current.append(TOMLEntry(key: key, value: value, line: line))
        }
        finish(current)
        return document
    }

    /// Rejects what is not UTF-8, or starts with a byte order mark, naming the line.
    static func validateEncoding(_ bytes: [UInt8]) throws(TOMLSyntaxError) {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw TOMLSyntaxError(
                line: 1, message: "the file starts with a byte order mark (U+FEFF), which TOML does not allow; save it as UTF-8 without BOM")
        }
        var line = 1
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte < 0x80 {
                if byte == 0x0a { line += 1 }
                index += 1
                continue
            }
            // Well-formed UTF-8 (Unicode table 3-7): no overlongs, no surrogates, nothing past U+10FFFF.
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch byte {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: throw TOMLSyntaxError(line: line, message: "the file is not valid UTF-8")
            }
            guard index + length <= count else { throw TOMLSyntaxError(line: line, message: "the file is not valid UTF-8") }
            for offset in 1..<length {
                let next = bytes[index + offset]
                let (minimum, maximum): (UInt8, UInt8) = offset == 1 ? (low, high) : (0x80, 0xBF)
                guard next >= minimum && next <= maximum else {
                    throw TOMLSyntaxError(line: line, message: "the file is not valid UTF-8")
                }
            }
            index += length
        }
    }

    /// TOML integers: optional sign, decimal with single underscores between digits, or 0x/0o/0b without a
    /// sign; 64-bit. nil for anything else.
    public static func integer(_ text: Substring) -> Int? { Scanner.integer(Array(text.utf8)) }
}

/// A position in the document's bytes (already checked to be UTF-8).
private struct Scanner {
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

    /// A value at the current position; arrays may span lines.
    mutating func value(key: String) throws(TOMLSyntaxError) -> TOMLValue {
        let start = line
        guard let first = peek, first != 0x0a, first != 0x0d, first != UInt8(ascii: "#") else {
            throw TOMLSyntaxError(line: start, message: "missing value for '\(key)'")
        }
        switch first {
        case UInt8(ascii: "\""):
            if bytes[position...].starts(with: [0x22, 0x22, 0x22]) {
                throw TOMLSyntaxError(line: start, message: "multi-line strings (\"\"\") are not supported")
            }
            return TOMLValue(kind: .string(try basicString()), line: start)
        case UInt8(ascii: "'"):
            if bytes[position...].starts(with: [0x27, 0x27, 0x27]) {
                throw TOMLSyntaxError(line: start, message: "multi-line strings (''') are not supported")
            }
            return TOMLValue(kind: .string(try literalString()), line: start)
        case UInt8(ascii: "["):
            return try array(key: key)
        case UInt8(ascii: "{"):
            throw TOMLSyntaxError(line: start, message: "inline tables ({ ... }) are not supported; use a [table]")
        default:
            let tokenStart = position
            while let byte = peek, !Self.endsToken(byte) { position += 1 }
            let token = Array(bytes[tokenStart..<position])
            let text = String(decoding: token, as: UTF8.self)
            if token == Array("true".utf8) { return TOMLValue(kind: .boolean(true), line: start) }
            if token == Array("false".utf8) { return TOMLValue(kind: .boolean(false), line: start) }
            if let integer = Self.integer(token) { return TOMLValue(kind: .integer(integer), line: start) }
            throw TOMLSyntaxError(line: start, message: Self.explain(token: token, text: text, key: key))
        }
    }

    /// Why a bare token is not a value we read.
    static func explain(token: [UInt8], text: String, key: String) -> String {
        let digits = token.filter { $0 >= 0x30 && $0 <= 0x39 }.count
        let isDateLike = token.count >= 5 && digits >= 4 && (token.contains(UInt8(ascii: ":")) || (token.count >= 10 && token[4] == UInt8(ascii: "-") && token[7] == UInt8(ascii: "-")))
        if isDateLike { return "'\(text)' for '\(key)': dates and times are not supported" }
        let bare = token.drop { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }
        if bare.elementsEqual("inf".utf8) || bare.elementsEqual("nan".utf8) {
            return "'\(text)' for '\(key)': floats are not supported"
        }
        if digits > 0, !token.starts(with: Array("0x".utf8)),
            token.contains(UInt8(ascii: ".")) || token.contains(UInt8(ascii: "e")) || token.contains(UInt8(ascii: "E"))
        {
            return "'\(text)' for '\(key)': floats are not supported"
        }
        if digits > 0 && token.allSatisfy({ $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || ($0 >= 0x30 && $0 <= 0x39) || Self.isBareKey($0) }) {
            return "'\(text)' for '\(key)' is not a TOML integer (one optional sign, no leading zeros, '_' only between digits, at most 64 bits)"
        }
        return "cannot read '\(text)' as a value for '\(key)' (strings need quotes)"
    }

    /// A bare value ends at whitespace, a comma, a closing bracket, a comment or the line end.
    static func endsToken(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d || byte == UInt8(ascii: ",")
            || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "#")
    }

    mutating func array(key: String) throws(TOMLSyntaxError) -> TOMLValue {
        let start = line
        position += 1  // '['
        var elements: [TOMLValue] = []
        while true {
            try skipBlank()
            guard !atEnd else { throw TOMLSyntaxError(line: start, message: "array for '\(key)' is not closed with ']'") }
            if consume(UInt8(ascii: "]")) { break }
            if line != start, looksLikeKeyAssignment() {
                throw TOMLSyntaxError(line: start, message: "array for '\(key)' is not closed with ']' (expected ',' or ']')")
            }
            if peek == UInt8(ascii: ",") {
                throw TOMLSyntaxError(line: line, message: "a comma without a value before it in the array for '\(key)'")
            }
            elements.append(try value(key: key))
            try skipBlank()
            guard !atEnd else { throw TOMLSyntaxError(line: start, message: "array for '\(key)' is not closed with ']'") }
            if consume(UInt8(ascii: ",")) { continue }
            if consume(UInt8(ascii: "]")) { break }
            if line != start, looksLikeKeyAssignment() {
                throw TOMLSyntaxError(line: start, message: "array for '\(key)' is not closed with ']' (expected ',' or ']')")
            }
            throw TOMLSyntaxError(line: line, message: "expected ',' or ']' in the array for '\(key)'")
        }
        return TOMLValue(kind: .array(elements), line: start)
    }

    /// "key =" ahead: a new line of the table, not an array element (for a better message).
    func looksLikeKeyAssignment() -> Bool {
        var probe = self
        guard !probe.bareKey().isEmpty else { return false }
        probe.skipWhitespace()
        return probe.peek == UInt8(ascii: "=")
    }

    mutating func basicString() throws(TOMLSyntaxError) -> String {
        position += 1  // '"'
        var result: [UInt8] = []
        while let byte = peek {
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: result, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = peek else { break }
                position += 1
                switch escaped {
                case UInt8(ascii: "\""): result.append(0x22)
                case UInt8(ascii: "\\"): result.append(0x5c)
                case UInt8(ascii: "n"): result.append(0x0a)
                case UInt8(ascii: "t"): result.append(0x09)
                case UInt8(ascii: "r"): result.append(0x0d)
                case UInt8(ascii: "b"): result.append(0x08)
                case UInt8(ascii: "f"): result.append(0x0c)
                case UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let digits = escaped == UInt8(ascii: "u") ? 4 : 8
                    guard position + digits <= bytes.count,
                        bytes[position..<position + digits].allSatisfy({ Self.hexValue($0) != nil }),
                        let scalar = Unicode.Scalar(bytes[position..<position + digits].reduce(UInt32(0)) { $0 << 4 | UInt32(Self.hexValue($1)!) })
                    else {
                        throw TOMLSyntaxError(line: line, message: "bad \\\(Character(Unicode.Scalar(escaped))) escape in a string (\(digits) hex digits of a Unicode scalar value)")
                    }
                    result += Array(String(scalar).utf8)
                    position += digits
                default:
                    throw TOMLSyntaxError(line: line, message: "unknown escape '\\\(Character(Unicode.Scalar(escaped)))' in a string")
                }
            case 0x0a, 0x0d:
                throw TOMLSyntaxError(line: line, message: "string is not closed with '\"' on its line")
            default:
                if Self.isControl(byte) {
                    throw TOMLSyntaxError(line: line, message: "a control character (0x\(String(byte, radix: 16))) in a string; write it as an escape")
                }
                result.append(byte)
            }
        }
        throw TOMLSyntaxError(line: line, message: "string is not closed with '\"'")
    }

    mutating func literalString() throws(TOMLSyntaxError) -> String {
        position += 1  // "'"
        let start = position
        while let byte = peek {
            if byte == UInt8(ascii: "'") {
                position += 1
                return String(decoding: bytes[start..<position - 1], as: UTF8.self)
            }
            if byte == 0x0a || byte == 0x0d {
                throw TOMLSyntaxError(line: line, message: "string is not closed with \"'\" on its line")
            }
            if Self.isControl(byte) {
                throw TOMLSyntaxError(line: line, message: "a control character (0x\(String(byte, radix: 16))) in a literal string")
            }
            position += 1
        }
        throw TOMLSyntaxError(line: line, message: "string is not closed with \"'\"")
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    /// The TOML 1.0 integer grammar, 64-bit.
    static func integer(_ token: [UInt8]) -> Int? {
        guard !token.isEmpty else { return nil }
        var index = 0
        var negative = false
        var signed = false
        if token[0] == UInt8(ascii: "+") || token[0] == UInt8(ascii: "-") {
            negative = token[0] == UInt8(ascii: "-")
            signed = true
            index = 1
        }
        var radix: UInt8 = 10
        if token.count >= index + 2, token[index] == UInt8(ascii: "0") {
            switch token[index + 1] {
            case UInt8(ascii: "x"): radix = 16
            case UInt8(ascii: "o"): radix = 8
            case UInt8(ascii: "b"): radix = 2
            default: break
            }
            if radix != 10 {
                guard !signed else { return nil }  // no sign on prefixed forms
                index += 2
            }
        }
        let digits = token[index...]
        guard let first = digits.first, let last = digits.last, first != UInt8(ascii: "_"), last != UInt8(ascii: "_") else {
            return nil
        }
        // Decimal: no leading zeros ("0" alone is fine).
        if radix == 10, digits.count > 1, first == UInt8(ascii: "0") { return nil }
        var magnitude: UInt64 = 0
        var previousUnderscore = false
        for byte in digits {
            if byte == UInt8(ascii: "_") {
                guard !previousUnderscore else { return nil }
                previousUnderscore = true
                continue
            }
            previousUnderscore = false
            guard let value = hexValue(byte), value < radix else { return nil }
            let (shifted, overflow1) = magnitude.multipliedReportingOverflow(by: UInt64(radix))
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(value))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int.min : -Int(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int(magnitude)
    }
}
