// The part of TOML (v1.0.0) a policy file needs, parsed with the line of every key and value kept, so an
// error can name file, line and key. Supported: comments, `[table]`, `[[array of tables]]`, `key = value`
// with bare keys, basic and literal strings, integers (decimal with `_`, 0x/0o/0b), booleans, and arrays of
// those (over several lines, trailing comma allowed). Anything else valid TOML (floats, dates, inline
// tables, dotted or quoted keys, multi-line strings) is refused with a clear message instead of being
// misread. See docs/policy.md for why this is not TOMLKit.

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
    /// Entries in file order.
    public var entries: [TOMLEntry] = []

    public init(name: String, line: Int, entries: [TOMLEntry] = []) {
        self.name = name
        self.line = line
        self.entries = entries
    }

    public subscript(key: String) -> TOMLEntry? { entries.first { $0.key == key } }
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

/// Parser for the subset described at the top of this file.
public struct TOMLSubsetParser {
    private let lines: [Substring]

    public init(_ text: String) {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
    }

    /// Parses the whole text.
    /// - Throws: the first syntax error.
    public func parse() throws(TOMLSyntaxError) -> TOMLDocument {
        var document = TOMLDocument()
        var current = document.root
        var currentIsArray = false
        var inRoot = true
        var seenTables: Set<String> = []
        var index = 0

        func finish(_ table: TOMLTable) {
            if inRoot { document.root = table } else { document.tables.append((table, currentIsArray)) }
        }

        while index < lines.count {
            let lineNumber = index + 1
            var cursor = Cursor(text: lines[index], line: lineNumber)
            index += 1
            cursor.skipSpaceAndComment()
            guard !cursor.atEnd else { continue }
            if cursor.peek == "[" {
                let isArray = cursor.text.dropFirst(cursor.offset).hasPrefix("[[")
                cursor.advance(isArray ? 2 : 1)
                cursor.skipSpace()
                let name = cursor.bareKey()
                guard !name.isEmpty else {
                    throw TOMLSyntaxError(line: lineNumber, message: "expected a table name after '['")
                }
                cursor.skipSpace()
                if cursor.peek == "." {
                    throw TOMLSyntaxError(line: lineNumber, message: "dotted table names are not supported")
                }
                guard cursor.consume(isArray ? "]]" : "]") else {
                    throw TOMLSyntaxError(
                        line: lineNumber, message: "expected '\(isArray ? "]]" : "]")' after table name '\(name)'")
                }
                cursor.skipSpaceAndComment()
                guard cursor.atEnd else {
                    throw TOMLSyntaxError(line: lineNumber, message: "unexpected text after table header")
                }
                if !isArray {
                    guard seenTables.insert(name).inserted else {
                        throw TOMLSyntaxError(line: lineNumber, message: "table [\(name)] is defined twice")
                    }
                }
                if document.tables.contains(where: { $0.table.name == name && $0.isArrayElement != isArray })
                    || (!inRoot && current.name == name && currentIsArray != isArray)
                {
                    throw TOMLSyntaxError(
                        line: lineNumber, message: "'\(name)' is used both as [\(name)] and [[\(name)]]")
                }
                finish(current)
                current = TOMLTable(name: name, line: lineNumber)
                currentIsArray = isArray
                inRoot = false
                continue
            }
            let key = cursor.bareKey()
            if key.isEmpty {
                if cursor.peek == "\"" || cursor.peek == "'" {
                    throw TOMLSyntaxError(line: lineNumber, message: "quoted keys are not supported; use a bare key")
                }
                throw TOMLSyntaxError(line: lineNumber, message: "expected a key, a [table] or a comment")
            }
            cursor.skipSpace()
            if cursor.peek == "." {
                throw TOMLSyntaxError(line: lineNumber, message: "dotted keys ('\(key).…') are not supported")
            }
            guard cursor.consume("=") else {
                throw TOMLSyntaxError(line: lineNumber, message: "expected '=' after key '\(key)'")
            }
            cursor.skipSpace()
            guard current[key] == nil else {
                throw TOMLSyntaxError(line: lineNumber, message: "key '\(key)' is set twice in the same table")
            }
            let value = try parseValue(&cursor, index: &index, key: key)
            cursor.skipSpaceAndComment()
            guard cursor.atEnd else {
                throw TOMLSyntaxError(line: cursor.line, message: "unexpected text after the value of '\(key)'")
            }
            current.entries.append(TOMLEntry(key: key, value: value, line: lineNumber))
        }
        finish(current)
        return document
    }

    /// Parses a value at the cursor; arrays may continue on the following lines.
    private func parseValue(_ cursor: inout Cursor, index: inout Int, key: String) throws(TOMLSyntaxError)
        -> TOMLValue
    {
        let line = cursor.line
        guard let first = cursor.peek else {
            throw TOMLSyntaxError(line: line, message: "missing value for '\(key)'")
        }
        switch first {
        case "\"":
            if cursor.text.dropFirst(cursor.offset).hasPrefix("\"\"\"") {
                throw TOMLSyntaxError(line: line, message: "multi-line strings are not supported")
            }
            return TOMLValue(kind: .string(try cursor.basicString()), line: line)
        case "'":
            if cursor.text.dropFirst(cursor.offset).hasPrefix("'''") {
                throw TOMLSyntaxError(line: line, message: "multi-line strings are not supported")
            }
            return TOMLValue(kind: .string(try cursor.literalString()), line: line)
        case "[":
            cursor.advance(1)
            var elements: [TOMLValue] = []
            while true {
                cursor.skipSpaceAndComment()
                while cursor.atEnd {
                    guard index < lines.count else {
                        throw TOMLSyntaxError(line: line, message: "array for '\(key)' is not closed with ']'")
                    }
                    cursor = Cursor(text: lines[index], line: index + 1)
                    index += 1
                    cursor.skipSpaceAndComment()
                }
                if cursor.consume("]") { break }
                if cursor.line != line, cursor.looksLikeKeyAssignment {
                    throw TOMLSyntaxError(line: line, message: "array for '\(key)' is not closed with ']' (expected ',' or ']')")
                }
                elements.append(try parseValue(&cursor, index: &index, key: key))
                cursor.skipSpaceAndComment()
                while cursor.atEnd {
                    guard index < lines.count else {
                        throw TOMLSyntaxError(line: line, message: "array for '\(key)' is not closed with ']'")
                    }
                    cursor = Cursor(text: lines[index], line: index + 1)
                    index += 1
                    cursor.skipSpaceAndComment()
                }
                if cursor.consume(",") { continue }
                if cursor.consume("]") { break }
                if cursor.line != line, cursor.looksLikeKeyAssignment {
                    throw TOMLSyntaxError(line: line, message: "array for '\(key)' is not closed with ']' (expected ',' or ']')")
                }
                throw TOMLSyntaxError(line: cursor.line, message: "expected ',' or ']' in the array for '\(key)'")
            }
            return TOMLValue(kind: .array(elements), line: line)
        case "{":
            throw TOMLSyntaxError(line: line, message: "inline tables are not supported; use a [table]")
        default:
            let word = cursor.word()
            switch word {
            case "true": return TOMLValue(kind: .boolean(true), line: line)
            case "false": return TOMLValue(kind: .boolean(false), line: line)
            default:
                if let integer = Self.integer(word) { return TOMLValue(kind: .integer(integer), line: line) }
                if word.isEmpty {
                    throw TOMLSyntaxError(line: line, message: "missing value for '\(key)'")
                }
                throw TOMLSyntaxError(
                    line: line,
                    message: "cannot read '\(word)' as a value for '\(key)' (strings need quotes; floats and dates "
                        + "are not supported)")
            }
        }
    }

    /// TOML integers: optional sign, decimal with single underscores between digits, or 0x/0o/0b.
    static func integer(_ word: Substring) -> Int? {
        var text = word
        var negative = false
        if let sign = text.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            text = text.dropFirst()
        }
        var radix = 10
        if text.hasPrefix("0x") || text.hasPrefix("0o") || text.hasPrefix("0b") {
            guard word.first != "+" && word.first != "-" else { return nil }  // TOML: no sign on prefixed forms
            radix = text.hasPrefix("0x") ? 16 : text.hasPrefix("0o") ? 8 : 2
            text = text.dropFirst(2)
        } else if text.count > 1 && text.hasPrefix("0") {
            return nil  // leading zeros are not allowed
        }
        guard !text.isEmpty, text.first != "_", text.last != "_", !text.contains("__") else { return nil }
        guard let magnitude = Int(String(text.filter { $0 != "_" }), radix: radix) else { return nil }
        return negative ? -magnitude : magnitude
    }
}

/// A position in one line.
private struct Cursor {
    let text: Substring
    let line: Int
    var offset = 0
    private let characters: [Character]

    init(text: Substring, line: Int) {
        self.text = text
        self.line = line
        characters = Array(text)
    }

    var atEnd: Bool { offset >= characters.count }
    var peek: Character? { atEnd ? nil : characters[offset] }

    mutating func advance(_ count: Int) { offset = min(characters.count, offset + count) }

    /// "key =" ahead: a new line of the table, not an array element.
    var looksLikeKeyAssignment: Bool {
        var probe = self
        guard !probe.bareKey().isEmpty else { return false }
        probe.skipSpace()
        return probe.peek == "="
    }

    mutating func skipSpace() {
        while let character = peek, character == " " || character == "\t" { offset += 1 }
    }

    mutating func skipSpaceAndComment() {
        skipSpace()
        if peek == "#" { offset = characters.count }
    }

    mutating func consume(_ literal: String) -> Bool {
        let literalCharacters = Array(literal)
        guard offset + literalCharacters.count <= characters.count,
            Array(characters[offset..<offset + literalCharacters.count]) == literalCharacters
        else { return false }
        offset += literalCharacters.count
        return true
    }

    /// A bare key: A-Z a-z 0-9 _ -.
    mutating func bareKey() -> String {
        var key = ""
        while let character = peek, character.isASCII, character.isLetter || character.isNumber
            || character == "_" || character == "-"
        {
            key.append(character)
            offset += 1
        }
        return key
    }

    /// Characters up to a delimiter, for numbers and booleans.
    mutating func word() -> Substring {
        let start = offset
        while let character = peek, !" \t,]#".contains(character) { offset += 1 }
        return Substring(String(characters[start..<offset]))
    }

    mutating func basicString() throws(TOMLSyntaxError) -> String {
        offset += 1
        var result = ""
        while let character = peek {
            offset += 1
            switch character {
            case "\"":
                return result
            case "\\":
                guard let escaped = peek else { break }
                offset += 1
                switch escaped {
                case "\"": result.append("\"")
                case "\\": result.append("\\")
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "r": result.append("\r")
                case "b": result.append("\u{08}")
                case "f": result.append("\u{0C}")
                case "u", "U":
                    let digits = escaped == "u" ? 4 : 8
                    guard offset + digits <= characters.count,
                        let scalarValue = UInt32(String(characters[offset..<offset + digits]), radix: 16),
                        let scalar = Unicode.Scalar(scalarValue)
                    else { throw TOMLSyntaxError(line: line, message: "bad \\\(escaped) escape in string") }
                    result.unicodeScalars.append(scalar)
                    offset += digits
                default:
                    throw TOMLSyntaxError(line: line, message: "unknown escape '\\\(escaped)' in string")
                }
            default:
                result.append(character)
            }
        }
        throw TOMLSyntaxError(line: line, message: "string is not closed with '\"'")
    }

    mutating func literalString() throws(TOMLSyntaxError) -> String {
        offset += 1
        var result = ""
        while let character = peek {
            offset += 1
            if character == "'" { return result }
            result.append(character)
        }
        throw TOMLSyntaxError(line: line, message: "string is not closed with \"'\"")
    }
}
