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
//
// Here: the document's structure (tables, keys, duplicates) and the encoding check. The lexer is
// TOMLScanner.swift, values TOMLValueScanner.swift, the result TOMLDocument.swift.

/// The reader described at the top of this file.
public struct TOMLReader {
    private let bytes: [UInt8]

    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Reads the whole document.
    /// - Throws: the first error, with its line.
    public func parse() throws(TOMLSyntaxError) -> TOMLDocument {
        try Self.validateEncoding(bytes)
        var scanner = TOMLScanner(bytes: bytes)
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
    public static func integer(_ text: Substring) -> Int? { TOMLScanner.integer(Array(text.utf8)) }
}
