// What the TOML reader (TOMLReader.swift) produces: tables of entries, each value with its line, so an
// error found later can still name file, line and key.

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
