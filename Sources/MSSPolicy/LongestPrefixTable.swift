// Longest-prefix match for IPv4 and IPv6: built once per policy version, read by the workers without
// locks or allocation. See docs/prefix-table.md.
//
// The prefixes are flattened into disjoint segments that cover the whole address space; each segment
// carries the value of the longest prefix covering it (-1: none). A lookup finds the last segment start at
// or below the address: a direct index on the top 16 bits of the address gives the few segments that can
// hold it, and a branch-free binary search picks the one. Global IPv6 unicast (2000::/3) spreads over 8192
// such buckets; prefixes crowded into one bucket degrade to a plain binary search, never worse.

/// Storage that never moves after the build: the lookups read it through unchecked pointers.
@usableFromInline
final class PrefixTableStorage<Address: FixedWidthInteger & UnsignedInteger>: @unchecked Sendable {
    @usableFromInline let starts: UnsafeMutableBufferPointer<Address>
    @usableFromInline let values: UnsafeMutableBufferPointer<Int32>
    /// IPv4: `direct[b]` is the segment holding address `b << 16`; b = 0...65536 (the last one is the end).
    @usableFromInline let direct: UnsafeMutableBufferPointer<Int32>
    /// IPv6: every `fenceStride`-th start.
    @usableFromInline let fence: UnsafeMutableBufferPointer<Address>

    init(starts: [Address], values: [Int32], useDirectIndex: Bool, fenceStride: Int) {
        self.starts = .allocate(capacity: starts.count)
        _ = self.starts.initialize(from: starts)
        self.values = .allocate(capacity: values.count)
        _ = self.values.initialize(from: values)
        if useDirectIndex {
            direct = .allocate(capacity: 65537)
            var segment = 0
            let shift = Address.bitWidth - 16
            for bucket in 0...65536 {
                let boundary = bucket == 65536 ? nil : Address(bucket) << shift
                if let boundary {
                    while segment + 1 < starts.count && starts[segment + 1] <= boundary { segment += 1 }
                    direct[bucket] = Int32(segment)
                } else {
                    direct[bucket] = Int32(starts.count - 1)
                }
            }
            fence = .allocate(capacity: 0)
        } else {
            direct = .allocate(capacity: 0)
            let count = (starts.count + fenceStride - 1) / fenceStride
            fence = .allocate(capacity: count)
            for index in 0..<count { fence[index] = starts[index * fenceStride] }
        }
    }

    deinit {
        starts.deallocate()
        values.deallocate()
        direct.deallocate()
        fence.deallocate()
    }
}

/// A longest-prefix-match table from prefixes to values (peer indexes).
public struct PrefixTable<Address: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    @usableFromInline let storage: PrefixTableStorage<Address>
    @usableFromInline static var fenceStride: Int { 32 }

    /// Builds the table. For the same prefix given twice, the later value wins (the policy refuses
    /// duplicates before it gets here).
    /// - Parameter entries: (network address, prefix length, value >= 0).
    public init(entries: [(address: Address, length: Int, value: Int32)]) {
        // Sort is stable, so of two identical prefixes the later keeps the last word.
        let sorted = entries.sorted { $0.address < $1.address || ($0.address == $1.address && $0.length < $1.length) }
        var starts: [Address] = [0]
        var values: [Int32] = [-1]
        /// Records that from `start` on the value is `value` (a later record at the same start replaces).
        func emit(_ start: Address, _ value: Int32) {
            if starts.last == start {
                values[values.count - 1] = value
            } else {
                starts.append(start)
                values.append(value)
            }
        }
        var open: [(last: Address, value: Int32)] = []
        for entry in sorted {
            let hostBits = Address.bitWidth - entry.length
            let last = hostBits == 0 ? entry.address : entry.address | (hostBits == Address.bitWidth ? ~0 : (Address(1) << hostBits) - 1)
            while let top = open.last, top.last < entry.address {
                open.removeLast()
                emit(top.last + 1, open.last?.value ?? -1)  // top.last < entry.address, so no overflow
            }
            emit(entry.address, entry.value)
            open.append((last, entry.value))
        }
        while let top = open.popLast() {
            if top.last == Address.max { break }
            emit(top.last + 1, open.last?.value ?? -1)
        }
        // Merge neighbours that ended up with the same value.
        var mergedStarts: [Address] = []
        var mergedValues: [Int32] = []
        mergedStarts.reserveCapacity(starts.count)
        mergedValues.reserveCapacity(values.count)
        for (start, value) in zip(starts, values) where mergedValues.last != value {
            mergedStarts.append(start)
            mergedValues.append(value)
        }
        storage = PrefixTableStorage(
            starts: mergedStarts, values: mergedValues, useDirectIndex: true,
            fenceStride: Self.fenceStride)
    }

    /// Number of disjoint segments the prefixes flattened into.
    public var segmentCount: Int { storage.starts.count }

    /// Bytes the table holds (segments, values and index).
    public var memoryBytes: Int {
        storage.starts.count * MemoryLayout<Address>.stride + storage.values.count * 4 + storage.direct.count * 4
            + storage.fence.count * MemoryLayout<Address>.stride
    }

    /// The value of the longest prefix containing `address`, or -1.
    @inlinable
    public func lookup(_ address: Address) -> Int32 {
        let starts = storage.starts
        var low: Int
        var high: Int
        if storage.direct.count > 0 {
            let bucket = Int(truncatingIfNeeded: address >> (Address.bitWidth - 16))
            low = Int(storage.direct[bucket])
            high = Int(storage.direct[bucket + 1])
        } else {
            // The last fence entry at or below the address (fence[0] == 0).
            let fence = storage.fence
            var fenceLow = 0
            var fenceCount = fence.count
            while fenceCount > 1 {
                let half = fenceCount / 2
                if fence[fenceLow + half] <= address { fenceLow += half }
                fenceCount -= half
            }
            low = fenceLow * Self.fenceStride
            high = min(low + Self.fenceStride, starts.count) - 1
        }
        // The last start at or below the address within [low, high] (starts[low] <= address holds).
        var count = high - low + 1
        while count > 1 {
            let half = count / 2
            if starts[low + half] <= address { low += half }
            count -= half
        }
        return storage.values[low]
    }
}

public typealias PrefixTable4 = PrefixTable<UInt32>
public typealias PrefixTable6 = PrefixTable<UInt128>

extension PrefixTable where Address == UInt32 {
    /// From IPv4 prefixes.
    public init(_ entries: [(IPv4Prefix, Int32)]) {
        self.init(entries: entries.map { (address: $0.0.address, length: $0.0.length, value: $0.1) })
    }
}

extension PrefixTable where Address == UInt128 {
    /// From IPv6 prefixes.
    public init(_ entries: [(IPv6Prefix, Int32)]) {
        self.init(entries: entries.map { (address: $0.0.address, length: $0.0.length, value: $0.1) })
    }
}
