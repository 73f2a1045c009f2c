import Foundation
import Testing
import TestSupport
import WireFixtures

@testable import MSSPolicy

/// A property test of the TOML reader against Python's tomllib (scripts/toml-oracle): policies generated
/// from a seed, written in many TOML styles (CRLF, comments everywhere, literal and escaped strings,
/// underscores and hex, multi-line arrays, tabs), half of them mutated into something invalid or
/// unsupported. For every document mssclamp must read exactly what tomllib reads, or refuse it: invalid
/// documents always, valid ones only by naming a construct it does not support.
@Suite("TOML reader against tomllib")
struct TOMLOracleTests {
    static let oracle = Repository.root.appendingPathComponent("scripts/toml-oracle").path

    @Test(arguments: [1, 2, 3, 4])
    func readerAgreesWithTomllib(seed: UInt64) throws {
        let directory = TemporaryFile(unusedSuffix: "-toml")
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        var generator = PolicyTextGenerator(seed: seed)
        let count = 300
        for index in 0..<count {
            let document = generator.document()
            let name = String(format: "%@/case-%04d", directory.path, index)
            try Data(document).write(to: URL(fileURLWithPath: name + ".toml"))
            try Data(Self.reading(document)).write(to: URL(fileURLWithPath: name + ".json"))
        }
        let result = try Shell.run(["python3", Self.oracle, directory.path], timeout: 120)
        try? FileManager.default.removeItem(atPath: directory.path)
        #expect(result.status == 0, "\(result.error)")
        let report = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] ?? [:]
        let mismatches = report["mismatches"] as? [[String: Any]] ?? [["problem": "no report: \(result.output)"]]
        #expect(report["cases"] as? Int == count)
        for mismatch in mismatches.prefix(5) {
            Issue.record("\(mismatch["problem"] ?? "?")\n---\n\(mismatch["document"] ?? "")")
        }
        print("toml oracle seed \(seed): \(report["cases"] ?? 0) cases, \(report["agreed"] ?? 0) agreed, \(report["refused_unsupported"] ?? 0) refused as unsupported")
        #expect(mismatches.isEmpty)
        // The generator must exercise both sides: agreements on valid documents and refusals.
        #expect((report["agreed"] as? Int ?? 0) > count / 2, "\(report)")
        #expect((report["refused_unsupported"] as? Int ?? 0) > 0, "\(report)")
    }

    /// What the reader made of a document, as the oracle wants it: {"ok": {...}} in tomllib's shape
    /// (top-level keys, [name] as a table, [[name]] as a list of tables) or {"error": "..."}.
    static func reading(_ bytes: [UInt8]) throws -> [UInt8] {
        let object: [String: Any]
        do {
            let document = try TOMLReader(bytes: bytes).parse()
            var top = table(document.root)
            for (table, isArray) in document.tables {
                if isArray {
                    top[table.name] = (top[table.name] as? [Any] ?? []) + [Self.table(table)]
                } else {
                    top[table.name] = Self.table(table)
                }
            }
            object = ["ok": top]
        } catch {
            object = ["error": error.description]
        }
        return [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    static func table(_ table: TOMLTable) -> [String: Any] {
        var result: [String: Any] = [:]
        for entry in table.entries { result[entry.key] = value(entry.value) }
        return result
    }

    static func value(_ value: TOMLValue) -> Any {
        switch value.kind {
        case .string(let text): text
        case .integer(let number): number
        case .boolean(let flag): flag
        case .array(let elements): elements.map(Self.value)
        }
    }

    /// The four traps of issue 10, each read exactly or refused.
    @Test func crlfFileThatBeginsWithACommentKeepsItsValues() throws {
        let text = "# the policy\r\n[defaults]\r\nmss4 = 1000\r\n\r\n[[peer]]\r\nname = \"a\"\r\nmatch = [\"10.0.0.0/8\"]\r\nmss = 1200\r\n"
        let configuration = try PolicyConfiguration.parse(text, file: "crlf.toml")
        #expect(configuration.defaults.ipv4 == 1000)
        #expect(configuration.peers.map(\.name) == ["a"])
    }

    @Test func doubleSignIsRefused() {
        #expect(throws: PolicyError.self) { try PolicyConfiguration.parse("[defaults]\nmss4 = --1360\n", file: "p.toml") }
        #expect(TOMLReader.integer("--1360") == nil)
        #expect(TOMLReader.integer("+-1360") == nil)
    }

    @Test func emptyMatchIsRefused() {
        do {
            _ = try PolicyConfiguration.parse("[[peer]]\nname = \"all\"\nmatch = []\nmss = 1200\n", file: "p.toml")
            Issue.record("an empty match was accepted")
        } catch {
            #expect(error.description.contains("p.toml:3: peer \"all\".match: is empty"), "\(error)")
        }
        var fields = LivePeerFieldsProbe.fields(match: [])
        #expect(throws: PolicyError.self) { try PeerDefinition.validated(fields, source: "peer add") }
        fields = LivePeerFieldsProbe.fields(match: ["10.0.0.0/8"])
        #expect((try? PeerDefinition.validated(fields, source: "peer add")) != nil)
    }

    @Test func aDirectoryGetsAPlainMessage() throws {
        let directory = TemporaryFile(unusedSuffix: "-dir")
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory.path) }
        do {
            _ = try PolicyConfiguration.load(path: directory.path)
            Issue.record("a directory was read as a policy")
        } catch {
            #expect(error.description == "\(directory.path): cannot read the file: it is a directory, not a file")
        }
        do {
            _ = try PolicyConfiguration.load(path: directory.path + "/missing.toml")
        } catch {
            #expect(error.description.hasSuffix("cannot read the file: no such file"))
        }
    }

    @Test func aByteOrderMarkIsRefusedByName() {
        do {
            _ = try PolicyConfiguration.parse("\u{FEFF}[defaults]\nmss4 = 1300\n", file: "bom.toml")
            Issue.record("a BOM was accepted")
        } catch {
            #expect(error.description.contains("bom.toml:1:") && error.description.contains("byte order mark"))
        }
    }
}

/// `peer add`'s fields as the validator takes them.
enum LivePeerFieldsProbe {
    static func fields(match: [String]) -> [(key: String, value: TOMLValue.Kind)] {
        [
            ("name", .string("p")), ("match", .array(match.map { TOMLValue(kind: .string($0), line: 0) })),
            ("mss", .integer(1200)),
        ]
    }
}

/// Writes policies as TOML in varied styles, and mutates some of them into invalid or unsupported TOML.
struct PolicyTextGenerator {
    private var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(state: seed &* 0x9E37_79B9_7F4A_7C15 | 1) }

    mutating func next() -> UInt64 { random.next() }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// An integer in one of TOML's spellings.
    mutating func integer(_ value: Int) -> String {
        switch below(8) {
        case 0: return "0x" + String(value, radix: 16, uppercase: chance(50))
        case 1: return "0o" + String(value, radix: 8)
        case 2: return "0b" + String(value, radix: 2)
        case 3:
            let digits = Array(String(value))
            guard digits.count > 1 else { return String(value) }
            var text = ""
            for (index, digit) in digits.enumerated() {
                if index > 0 && chance(40) { text += "_" }
                text.append(digit)
            }
            return text
        case 4: return "+" + String(value)
        default: return String(value)
        }
    }

    /// A string in basic or literal form, with escapes and non-ASCII now and then.
    mutating func string(_ value: String) -> String {
        if !value.contains("'") && chance(35) { return "'" + value + "'" }
        var text = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\t": text += chance(50) ? "\\t" : "\t"
            default:
                if !scalar.isASCII && chance(50) {
                    text += scalar.value > 0xFFFF ? String(format: "\\U%08X", scalar.value) : String(format: "\\u%04x", scalar.value)
                } else if scalar.isASCII && chance(5) {
                    text += String(format: "\\u%04X", scalar.value)
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        return text + "\""
    }

    mutating func comment() -> String {
        pick(["# note", "#", "# ça marche — ok", "#\tindented", "# \"quoted\" ['brackets']", "# key = value"])
    }

    mutating func name() -> String {
        pick(["road-warriors", "site.a", "büro", "a\"b", "c\\d", "tab\there", "x_1", "emoji-🙂", "peer'1"])
    }

    /// One key line, spaced and commented in one of several ways.
    mutating func line(_ key: String, _ value: String) -> String {
        let indent = pick(["", "", "  ", "\t"])
        let before = pick([" ", "", "  ", "\t"])
        let after = pick([" ", "", "  "])
        let trailer = chance(25) ? pick([" ", "\t"]) + comment() : (chance(10) ? " " : "")
        return indent + key + before + "=" + after + value + trailer
    }

    mutating func array(_ elements: [String]) -> String {
        guard chance(50) else {
            return "[" + elements.joined(separator: pick([", ", ",", " , "])) + (chance(30) && !elements.isEmpty ? "," : "") + "]"
        }
        var text = "[" + (chance(30) ? " " + comment() : "") + "\n"
        for element in elements {
            text += pick(["  ", "\t", ""]) + element + "," + (chance(30) ? " " + comment() : "") + "\n"
        }
        return text + pick(["]", "  ]"])
    }

    /// A whole document, possibly mutated.
    mutating func document() -> [UInt8] {
        var lines: [String] = []
        if chance(60) { lines.append(comment()) }
        if chance(40) { lines.append("") }
        if chance(50) {
            lines.append(pick(["[queue]", "[ queue ]", "[queue]  # settings"]))
            if chance(70) { lines.append(line("num", chance(50) ? integer(below(4)) : string("0-\(1 + below(3))"))) }
            if chance(60) { lines.append(line("fail_open", chance(50) ? "true" : "false")) }
            if chance(40) { lines.append(line("maxlen", integer(1024 << below(5)))) }
            if chance(40) { lines.append(line("hooks", array(["forward", "output"].prefix(1 + below(2)).map { string($0) }))) }
            lines.append("")
        }
        if chance(80) {
            lines.append(pick(["[defaults]", "[defaults] # global", "\t[defaults]"]))
            if chance(80) { lines.append(line("mss4", integer(1200 + below(260)))) }
            if chance(50) { lines.append(line("mss6", chance(20) ? string("none") : integer(1200 + below(240)))) }
            if chance(40) { lines.append(line("insert_missing", chance(50) ? "true" : "false")) }
            if chance(30) { lines.append(line("malformed", string(pick(["accept", "drop"])))) }
        }
        if chance(30) {
            lines.append("[control]")
            lines.append(line("socket", string("/run/mssclamp/c\(below(9)).sock")))
        }
        for index in 0..<below(5) {
            if chance(50) { lines.append("") }
            lines.append(pick(["[[peer]]", "[[ peer ]]", "[[peer]] # \(index)"]))
            lines.append(line("name", string(name() + String(index))))
            let prefixes = (0..<(1 + below(3))).map { _ in string("10.\(below(256)).\(below(256)).0/24") }
            lines.append(line("match", array(prefixes)))
            if chance(70) {
                lines.append(line("mss", integer(1100 + below(360))))
            } else {
                lines.append(line("link_mtu", integer(1400 + below(100))))
                lines.append(line("encap", array([string("wireguard")])))
            }
        }
        if chance(30) { lines.append(comment()) }
        if chance(50) { mutate(&lines) }
        let crlf = chance(40)
        let mixed = chance(10)
        var text = ""
        for (index, line) in lines.enumerated() {
            text += line
            if index < lines.count - 1 || chance(80) { text += (mixed ? chance(50) : crlf) ? "\r\n" : "\n" }
        }
        var bytes = Array(text.utf8)
        if chance(3) { bytes = [0xEF, 0xBB, 0xBF] + bytes }
        if chance(2), let spot = bytes.firstIndex(of: UInt8(ascii: "#")) { bytes.insert(0xC3, at: spot + 1) }  // broken UTF-8
        return bytes
    }

    /// One change that makes the document invalid, or valid but beyond what the reader supports (or, by
    /// chance, still valid: then it must be read exactly).
    mutating func mutate(_ lines: inout [String]) {
        guard !lines.isEmpty else { return }
        let spot = below(lines.count)
        switch below(24) {
        case 0: lines[spot] += "\r"  // a CR that ends nothing
        case 1: lines.insert("# control \u{01} character", at: spot)
        case 2: lines.insert("x\(below(9)) = " + pick(["--1360", "1__0", "01", "+0x10", "0x", "1_", "-0b1", "0X10", "1360_"]), at: spot)
        case 3: lines.insert("big = " + pick(["99999999999999999999", "-9223372036854775809", "9223372036854775808"]), at: spot)
        case 4: lines.insert("f = " + pick(["1.5", "1e3", "inf", "-nan", "3.0e-2", "+inf"]), at: spot)
        case 5: lines.insert("d = " + pick(["1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "1979-05-27 07:32:00"]), at: spot)
        case 6: lines.insert("t = {a = 1}", at: spot)
        case 7: lines.insert(pick(["a.b = 1", "\"quoted\" = 1", "'lit' = 2", "a . b = 3"]), at: spot)
        case 8: lines.insert(pick(["m = \"\"\"text\"\"\"", "m = '''text'''"]), at: spot)
        case 9: lines.insert(pick(["s = \"unclosed", "s = 'unclosed", "s = \"a\" trailing"]), at: spot)
        case 10: lines.insert(pick(["a = [1, 2", "a = [1,,2]", "a = [,1]", "a = [1 2]"]), at: spot)
        case 11: lines.insert(pick(["s = \"\\e\"", "s = \"\\x41\"", "s = \"\\uD800\"", "s = \"\\u12\"", "s = \"\\U00110000\""]), at: spot)
        case 12: lines.insert(pick(["x =", "= 1", "x"]), at: spot)
        case 13: lines.insert(pick(["[defaults]", "[queue]", "[peer]", "[[defaults]]"]), at: spot)
        case 14: lines.insert(pick(["[ [peer]]", "[[peer] ]", "[]", "[a b]", "[\"q\"]", "[a.b]"]), at: spot)
        case 15: lines.insert(pick(["b = True", "b = TRUE", "b = yes", "b = truee"]), at: spot)
        case 16: lines.insert("s = \"tab\tinside\"", at: spot)  // valid: a raw tab is allowed
        case 17: lines.insert("s = 'del\u{7f}'", at: spot)
        case 18: lines.insert("k-_9 = 'ok'", at: spot)  // valid bare key
        case 19: lines.insert("ü = 1", at: spot)
        case 20: lines.insert("n = [[1, 2], ['a'], []]", at: spot)  // valid nested arrays
        case 21: if spot > 0 { lines.insert(lines[spot - 1], at: spot) }  // a duplicated line
        case 22: lines.insert("x = 0x7FFF_FFFF_FFFF_FFFF", at: spot)  // valid, the largest
        default: lines[spot] = lines[spot].replacingOccurrences(of: "=", with: "==")
        }
    }
}
