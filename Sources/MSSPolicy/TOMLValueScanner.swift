// Reading TOML values: basic and literal strings, integers (decimal, 0x, 0o, 0b), booleans and arrays,
// and naming the valid TOML this reader refuses (floats, dates, inline tables, multi-line strings).

extension TOMLScanner {
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
