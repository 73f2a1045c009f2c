// `scripts/bench wire`: nanoseconds per packet for the MSS rewrite over the fixture mix, MSSWire against a
// plain C implementation of the same algorithm compiled into the same binary, interleaved in one run.
// Prints a table (or JSON with --json) with the median and spread of several rounds, the Swift/C ratio and
// heap allocations per packet.

import CWireBaseline
import MSSWire
import WireFixtures

#if canImport(Glibc)
    import Glibc
#endif

func nanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

let arguments = CommandLine.arguments
let json = arguments.contains("--json")
/// Also write the JSON record to this file while printing the table.
let jsonFile = arguments.firstIndex(of: "--json-out").map { arguments[$0 + 1] }
let rounds = arguments.firstIndex(of: "--rounds").flatMap { Int(arguments[$0 + 1]) } ?? 7
let packetsPerRound = arguments.firstIndex(of: "--packets").flatMap { Int(arguments[$0 + 1]) } ?? 4_000_000

// The mix: every fixture once, so clamps, already-low packets, insertions, IPv6 extension headers and
// a Fast Open SYN are all in it. Ceiling 1360/1340 as in the default policy.
let only = arguments.firstIndex(of: "--only").flatMap { Int(arguments[$0 + 1]) }
let mix = only.map { [Fixtures.all[$0].bytes] } ?? Fixtures.all.map(\.bytes)
let stride = 128
let slots = mix.count
let pristine = UnsafeMutableRawBufferPointer.allocate(byteCount: slots * stride, alignment: 64)
let work = UnsafeMutableRawBufferPointer.allocate(byteCount: slots * stride, alignment: 64)
var lengths = [Int](repeating: 0, count: slots)
for (index, packet) in mix.enumerated() {
    precondition(packet.count + 4 <= stride)
    UnsafeMutableRawBufferPointer(rebasing: pristine[index * stride..<index * stride + packet.count])
        .copyBytes(from: packet)
    lengths[index] = packet.count
}

/// Runs `count` rewrites over the mix, restoring each packet from the pristine copy first (both variants
/// pay the same copy). Returns the elapsed nanoseconds and a checksum of outcomes so nothing is optimized out.
@MainActor @inline(never)
func runSwift(count: Int) -> (UInt64, Int) {
    var sink = 0
    let start = nanoseconds()
    lengths.withUnsafeBufferPointer { lengths in
        var slot = 0
        for _ in 0..<count {
            slot = slot == slots - 1 ? 0 : slot + 1
            let base = slot * stride
            let packet = UnsafeMutableRawBufferPointer(rebasing: work[base..<base + stride])
            packet.copyMemory(from: UnsafeRawBufferPointer(rebasing: pristine[base..<base + lengths[slot]]))
            var length = lengths[slot]
            let outcome = MSSRewrite.rewrite(packet, length: &length, ceilingIPv4: 1360, ceilingIPv6: 1340)
            sink &+= outcome.kind.rawValue &+ length
        }
    }
    return (nanoseconds() - start, sink)
}

@MainActor @inline(never)
func runC(count: Int) -> (UInt64, Int) {
    var sink = 0
    let start = nanoseconds()
    lengths.withUnsafeBufferPointer { lengths in
        var slot = 0
        for _ in 0..<count {
            slot = slot == slots - 1 ? 0 : slot + 1
            let base = slot * stride
            let packet = UnsafeMutableRawBufferPointer(rebasing: work[base..<base + stride])
            packet.copyMemory(from: UnsafeRawBufferPointer(rebasing: pristine[base..<base + lengths[slot]]))
            var length = lengths[slot]
            let outcome = wire_baseline_rewrite(
                packet.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, stride, 1360, 1340, 1)
            sink &+= Int(outcome) &+ length
        }
    }
    return (nanoseconds() - start, sink)
}

/// The harness alone: the same restore copy and bookkeeping with no rewrite, subtracted to give net figures.
@MainActor @inline(never)
func runHarness(count: Int) -> (UInt64, Int) {
    var sink = 0
    let start = nanoseconds()
    lengths.withUnsafeBufferPointer { lengths in
        var slot = 0
        for _ in 0..<count {
            slot = slot == slots - 1 ? 0 : slot + 1
            let base = slot * stride
            let packet = UnsafeMutableRawBufferPointer(rebasing: work[base..<base + stride])
            packet.copyMemory(from: UnsafeRawBufferPointer(rebasing: pristine[base..<base + lengths[slot]]))
            sink &+= Int(packet[9]) &+ lengths[slot]
        }
    }
    return (nanoseconds() - start, sink)
}

// Both implementations must agree on every packet of the mix before anything is timed.
let swiftCheck = runSwift(count: slots)
let cCheck = runC(count: slots)
precondition(swiftCheck.1 == cCheck.1, "Swift and C disagree on the fixture mix")

_ = runSwift(count: packetsPerRound / 4)  // warm-up
_ = runC(count: packetsPerRound / 4)

var swiftTimes: [Double] = []
var cTimes: [Double] = []
var harnessTimes: [Double] = []
for round in 0..<rounds {
    // Interleave, alternating which goes first, so drift in machine load hits both alike.
    let order = round % 2 == 0 ? [0, 1, 2] : [1, 0, 2]
    for variant in order {
        let (elapsed, _) = variant == 0 ? runSwift(count: packetsPerRound)
            : variant == 1 ? runC(count: packetsPerRound) : runHarness(count: packetsPerRound)
        let perPacket = Double(elapsed) / Double(packetsPerRound)
        switch variant {
        case 0: swiftTimes.append(perPacket)
        case 1: cTimes.append(perPacket)
        default: harnessTimes.append(perPacket)
        }
    }
}

// Allocations during a full round of each.
wire_malloc_count_enable(1)
let before = wire_malloc_count()
_ = runSwift(count: packetsPerRound)
let swiftAllocations = wire_malloc_count() - before
let beforeC = wire_malloc_count()
_ = runC(count: packetsPerRound)
let cAllocations = wire_malloc_count() - beforeC
wire_malloc_count_enable(0)

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
func format(_ value: Double, _ digits: Int = 2) -> String {
    var scaled = (value * pow(10, Double(digits))).rounded() / pow(10, Double(digits))
    if scaled == -0 { scaled = 0 }
    return String(scaled)
}

let swiftMedian = median(swiftTimes)
let cMedian = median(cTimes)
let harnessMedian = median(harnessTimes)
let ratio = swiftMedian / cMedian
// Net of the restore copy both loops pay: the rewrite alone.
let netRatio = (swiftMedian - harnessMedian) / (cMedian - harnessMedian)
let record = """
    {"benchmark":"wire","packets_per_round":\(packetsPerRound),"rounds":\(rounds),\
    "swift_ns_per_packet":\(format(swiftMedian, 3)),"swift_min":\(format(swiftTimes.min()!, 3)),\
    "swift_max":\(format(swiftTimes.max()!, 3)),"c_ns_per_packet":\(format(cMedian, 3)),\
    "c_min":\(format(cTimes.min()!, 3)),"c_max":\(format(cTimes.max()!, 3)),"ratio":\(format(ratio, 3)),\
    "harness_ns_per_packet":\(format(harnessMedian, 3)),"net_ratio":\(format(netRatio, 3)),\
    "swift_allocations_per_packet":\(format(Double(swiftAllocations) / Double(packetsPerRound), 6)),\
    "c_allocations_per_packet":\(format(Double(cAllocations) / Double(packetsPerRound), 6))}
    """
if let jsonFile, let file = fopen(jsonFile, "w") {
    fputs(record + "\n", file)
    fclose(file)
}
if json {
    print(record)
} else {
    print("MSS rewrite over the fixture mix (\(slots) packets: IPv4/IPv6, clamp, already low, insert)")
    print("\(rounds) interleaved rounds of \(packetsPerRound) packets; median [min-max] ns per packet")
    print("  Swift (MSSWire)   \(format(swiftMedian)) [\(format(swiftTimes.min()!))-\(format(swiftTimes.max()!))]")
    print("  C baseline        \(format(cMedian)) [\(format(cTimes.min()!))-\(format(cTimes.max()!))]")
    print("  harness only      \(format(harnessMedian)) (restore copy, no rewrite)")
    print("  ratio Swift/C     \(format(ratio, 3))   (goal <= 1.2)")
    print("  net ratio         \(format(netRatio, 3))   (harness subtracted from both)")
    print("  heap allocations  Swift \(swiftAllocations) in \(packetsPerRound) packets, C \(cAllocations)")
}
