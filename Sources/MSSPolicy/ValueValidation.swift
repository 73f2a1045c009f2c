// Reading one typed value of a policy file (string, boolean, integer in a range, MSS, list of strings),
// with the message that names the key and what it must be.

extension PolicyReader {
    mutating func string(_ entry: TOMLEntry, _ key: String) -> String? {
        if case .string(let value) = entry.value.kind { return value }
        fail(entry.line, key, "must be a string, got \(entry.value.typeName)")
        return nil
    }

    mutating func boolean(_ entry: TOMLEntry, _ key: String) -> Bool? {
        if case .boolean(let value) = entry.value.kind { return value }
        fail(entry.line, key, "must be true or false, got \(entry.value.typeName)")
        return nil
    }

    mutating func integer(_ entry: TOMLEntry, _ key: String, in range: ValueRange) -> Int? {
        guard case .integer(let value) = entry.value.kind else {
            fail(entry.line, key, "must be an integer, got \(entry.value.typeName)")
            return nil
        }
        guard range.contains(value) else {
            fail(entry.line, key, "\(value) is \(range.outside)")
            return nil
        }
        return value
    }

    mutating func mss(_ entry: TOMLEntry, _ key: String, allowNone: Bool = false) -> UInt16? {
        guard case .integer(let value) = entry.value.kind else {
            let expected = "an MSS (an integer \(ValueRange.mss.within))" + (allowNone ? " or \"none\"" : "")
            fail(entry.line, key, "must be \(expected), got \(entry.value.typeName)")
            return nil
        }
        guard ValueRange.mss.contains(value) else {
            fail(entry.line, key, "MSS \(value) is \(ValueRange.mss.outside)")
            return nil
        }
        return UInt16(value)
    }

    mutating func strings(_ entry: TOMLEntry, _ key: String) -> [String]? {
        guard case .array(let elements) = entry.value.kind else {
            fail(entry.line, key, "must be an array of strings, got \(entry.value.typeName)")
            return nil
        }
        var result: [String] = []
        for element in elements {
            guard case .string(let text) = element.kind else {
                fail(element.line, key, "must be an array of strings, found \(element.typeName)")
                return nil
            }
            result.append(text)
        }
        return result
    }
}
