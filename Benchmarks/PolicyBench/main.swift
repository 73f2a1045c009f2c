// `scripts/bench policy`: longest-prefix-match lookups in `PrefixTable` at 1k, 100k and 1M prefixes,
// against a plain binary trie (one node per bit) built from the same prefixes and timed in the same run.
// Reports lookups per second, ns per lookup (median of interleaved rounds, min-max), memory and the ratio.

import MSSPolicy
import WireFixtures

#if canImport(Glibc)
    import Glibc
#endif

func nanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// The baseline: a binary trie, one node per bit, children and value in flat arrays.
struct BinaryTrie<Address: FixedWidthInteger & UnsignedInteger> {
    var zero: [Int32] = [-1]
    var one: [Int32] = [-1]
    var value: [Int32] = [-1]

    mutating func insert(_ address: Address, length: Int, value newValue: Int32) {
        var node = 0
        for bit in 0..<length {
            let set = (address >> (Address.bitWidth - 1 - bit)) & 1 == 1
            let next = set ? one[node] : zero[node]
            if next >= 0 {
                node = Int(next)
            } else {
                zero.append(-1)
                one.append(-1)
                value.append(-1)
                let created = Int32(value.count - 1)
                if set { one[node] = created } else { zero[node] = created }
                node = Int(created)
            }
        }
        value[node] = newValue
    }

    func lookup(_ address: Address) -> Int32 {
        var node = 0
        var best = value[0]
        var bit = 0
        while bit < Address.bitWidth {
            let next = (address >> (Address.bitWidth - 1 - bit)) & 1 == 1 ? one[node] : zero[node]
            if next < 0 { break }
            node = Int(next)
            if value[node] >= 0 { best = value[node] }
            bit += 1
        }
        return best
    }

    var memoryBytes: Int { value.count * 12 }
}

let arguments = CommandLine.arguments
let sizes = arguments.firstIndex(of: "--sizes").map { arguments[$0 + 1].split(separator: ",").compactMap { Int($0) } }
    ?? [1_000, 100_000, 1_000_000]
let lookupCount = arguments.firstIndex(of: "--lookups").flatMap { Int(arguments[$0 + 1]) } ?? 4_000_000
let rounds = arguments.firstIndex(of: "--rounds").flatMap { Int(arguments[$0 + 1]) } ?? 5
let jsonFile = arguments.firstIndex(of: "--json-out").map { arguments[$0 + 1] }

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func format(_ value: Double, _ digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    return String((value * scale).rounded() / scale)
}

/// Prefix lengths like a real table: IPv4 mostly /24, some /16-/23, a few short and host routes;
/// IPv6 mostly /48, then /32-/47 and /56-/64.
func randomLength(ipv6: Bool, _ generator: inout SplitMix64) -> Int {
    let roll = Int.random(in: 0..<100, using: &generator)
    if ipv6 {
        switch roll {
        case 0..<55: return 48
        case 55..<75: return Int.random(in: 32...47, using: &generator)
        case 75..<95: return Int.random(in: 56...64, using: &generator)
        default: return 128
        }
    }
    switch roll {
    case 0..<60: return 24
    case 60..<85: return Int.random(in: 16...23, using: &generator)
    case 85..<90: return Int.random(in: 8...15, using: &generator)
    case 90..<97: return Int.random(in: 25...31, using: &generator)
    default: return 32
    }
}

struct Row {
    var family: String
    var prefixes: Int
    var segments: Int
    var tableNs: [Double] = []
    var trieNs: [Double] = []
    var tableBytes: Int
    var trieBytes: Int
    var buildMs: Double
}

func bench<A: FixedWidthInteger & UnsignedInteger & Sendable>(_ type: A.Type, prefixes count: Int, family: String) -> Row {
    var generator = SplitMix64(state: UInt64(count) &* 31 &+ UInt64(A.bitWidth))
    var entries: [(address: A, length: Int, value: Int32)] = []
    var seen = Set<A>()
    let ipv6 = A.bitWidth == 128
    // IPv6 prefixes live in 2000::/3 like global unicast space.
    let base: A = ipv6 ? A(0x2) << (A.bitWidth - 3) : 0
    while entries.count < count {
        let length = randomLength(ipv6: ipv6, &generator)
        let mask: A = ~A(0) << (A.bitWidth - length)
        var random = A.random(in: A.min...A.max, using: &generator)
        if ipv6 { random = (random >> 3) | base }
        let address = random & mask
        let key = address ^ A(length)
        guard seen.insert(key).inserted else { continue }
        entries.append((address, length, Int32(entries.count)))
    }
    let start = nanoseconds()
    let table = PrefixTable<A>(entries: entries)
    let buildMs = Double(nanoseconds() - start) / 1e6
    var trie = BinaryTrie<A>()
    for entry in entries { trie.insert(entry.address, length: entry.length, value: entry.value) }
    // Half the lookups inside a random prefix (traffic goes where routes are), half anywhere.
    var addresses: [A] = []
    addresses.reserveCapacity(lookupCount)
    for index in 0..<lookupCount {
        if index % 2 == 0 {
            let entry = entries[Int.random(in: 0..<entries.count, using: &generator)]
            let host = entry.length == A.bitWidth ? 0 : A.random(in: A.min...A.max, using: &generator) >> entry.length
            addresses.append(entry.address | host)
        } else {
            addresses.append(A.random(in: A.min...A.max, using: &generator))
        }
    }
    // Both must agree before anything is timed.
    for address in addresses.prefix(200_000) {
        precondition(table.lookup(address) == trie.lookup(address), "table and trie disagree on \(address)")
    }
    var row = Row(family: family, prefixes: count, segments: table.segmentCount, tableBytes: table.memoryBytes,
                  trieBytes: trie.memoryBytes, buildMs: buildMs)
    for round in 0..<rounds {
        for variant in round % 2 == 0 ? [0, 1] : [1, 0] {
            var sink: Int32 = 0
            let begin = nanoseconds()
            if variant == 0 {
                for address in addresses { sink &+= table.lookup(address) }
            } else {
                for address in addresses { sink &+= trie.lookup(address) }
            }
            let perLookup = Double(nanoseconds() - begin) / Double(addresses.count)
            if sink == 42 { print("") }  // keep the sum alive
            if variant == 0 { row.tableNs.append(perLookup) } else { row.trieNs.append(perLookup) }
        }
    }
    return row
}

var rows: [Row] = []
for size in sizes {
    rows.append(bench(UInt32.self, prefixes: size, family: "ipv4"))
    rows.append(bench(UInt128.self, prefixes: size, family: "ipv6"))
}

print("Longest-prefix match: PrefixTable vs. a binary trie, \(lookupCount) random lookups x \(rounds) interleaved rounds")
print("family  prefixes  segments  table ns/lookup [min-max]  Mlookups/s  trie ns/lookup  ratio  table MiB  trie MiB  build ms")
var json: [String] = []
for row in rows {
    let table = median(row.tableNs)
    let trie = median(row.trieNs)
    let mib = { (bytes: Int) in format(Double(bytes) / 1_048_576) }
    print(
        [row.family.padding(6), String(row.prefixes).padding(9, right: true), String(row.segments).padding(9, right: true),
         "\(format(table)) [\(format(row.tableNs.min()!))-\(format(row.tableNs.max()!))]".padding(25, right: true),
         format(1000 / table).padding(10, right: true), format(trie).padding(14, right: true),
         format(table / trie, 3).padding(5, right: true), mib(row.tableBytes).padding(9, right: true),
         mib(row.trieBytes).padding(8, right: true), format(row.buildMs).padding(8, right: true)].joined(separator: "  "))
    json.append(
        "{\"family\":\"\(row.family)\",\"prefixes\":\(row.prefixes),\"segments\":\(row.segments),\"table_ns\":\(table),\"table_ns_min\":\(row.tableNs.min()!),\"table_ns_max\":\(row.tableNs.max()!),\"lookups_per_s\":\(1e9 / table),\"trie_ns\":\(trie),\"ratio_table_over_trie\":\(table / trie),\"table_bytes\":\(row.tableBytes),\"trie_bytes\":\(row.trieBytes),\"build_ms\":\(row.buildMs)}"
    )
}
if let jsonFile, let file = fopen(jsonFile, "w") {
    fputs("{\"benchmark\":\"policy\",\"lookups\":\(lookupCount),\"rounds\":\(rounds),\"rows\":[" + json.joined(separator: ",") + "]}\n", file)
    fclose(file)
}

extension String {
    func padding(_ width: Int, right: Bool = false) -> String {
        count >= width ? self : right ? String(repeating: " ", count: width - count) + self : self + String(repeating: " ", count: width - count)
    }
}
