/// Differences between two listings of one table, object by object (chain, map, set, counter): the order
/// of the objects is nft's order of creation and means nothing (a chain added by an element update
/// lists after the others), the order of the lines inside each is compared.
func tableDifferences(expected: String, installed: String) -> [String] {
    let want = tableObjects(expected)
    let have = tableObjects(installed)
    var differences: [String] = []
    for (header, lines) in want.objects {
        guard let present = have.objects.first(where: { $0.header == header }) else {
            differences.append("missing: \(header)")
            continue
        }
        differences += lineDifferences(expected: lines.joined(separator: "\n"), installed: present.lines.joined(separator: "\n"))
            .map { "\(header.dropLast(2)): \($0)" }
    }
    for (header, _) in have.objects where !want.objects.contains(where: { $0.header == header }) {
        differences.append("unexpected: \(header)")
    }
    if want.header != have.header { differences.append("table: expected \(want.header), found \(have.header)") }
    return differences
}

/// A normalized table listing split into its objects: "chain forward {" with the lines up to its "}".
func tableObjects(_ listing: String) -> (header: String, objects: [(header: String, lines: [String])]) {
    var lines = listing.split(separator: "\n").map(String.init)
    let header = lines.isEmpty ? "" : lines.removeFirst()
    var objects: [(header: String, lines: [String])] = []
    var open: (header: String, lines: [String])?
    for line in lines {
        if open == nil {
            if line.hasSuffix(" {") { open = (line, []) }
            continue  // the table's closing brace
        }
        if line == "}" {
            objects.append(open!)
            open = nil
        } else {
            open!.lines.append(line)
        }
    }
    if let open { objects.append(open) }
    return (header, objects)
}

/// A line diff good enough for rule listings: what is missing and what is unexpected, in order.
func lineDifferences(expected: String, installed: String) -> [String] {
    let want = expected.split(separator: "\n").map(String.init)
    let have = installed.split(separator: "\n").map(String.init)
    var differences: [String] = []
    var remaining = have
    for line in want {
        if let index = remaining.firstIndex(of: line) { remaining.remove(at: index) } else { differences.append("missing: \(line)") }
    }
    differences += remaining.map { "unexpected: \($0)" }
    if differences.isEmpty && want != have { differences.append("the same lines in a different order") }
    return differences
}
