import MSSWire

/// A counter table's key: a dense index from 0.
public protocol CounterKey: CaseIterable, Sendable {
    var slot: Int { get }
}

extension CounterKey where Self: RawRepresentable, RawValue: BinaryInteger {
    @inlinable public var slot: Int { Int(rawValue) }
}

extension OutcomeKind: CounterKey {}
extension MalformedReason: CounterKey {}
extension MissingMSSReason: CounterKey {}

/// Fixed-size counters indexed by a table's keys: no heap, no lock, a few additions per batch. The
/// capacity is checked against the key's cases (`fits`, asserted on creation and by a unit test).
public struct CounterSlots<Key: CounterKey>: Sendable, Hashable {
    /// Room for this many keys; every table must fit.
    public static var capacity: Int { 24 }
    /// True when every key of the table has a slot.
    public static var fits: Bool { Key.allCases.allSatisfy { $0.slot >= 0 && $0.slot < capacity } }

    @usableFromInline var values = InlineArray<24, UInt64>(repeating: 0)

    @inlinable public init() { assert(Self.fits, "\(Key.self) has more cases than CounterSlots holds") }

    @inlinable public subscript(key: Key) -> UInt64 {
        get { values[key.slot] }
        set { values[key.slot] = newValue }
    }

    /// Adds one to `key`.
    @inlinable @inline(__always) public mutating func increment(_ key: Key) { values[key.slot] &+= 1 }

    /// Adds every count of `other`.
    @inlinable public mutating func add(_ other: CounterSlots) {
        for index in 0..<Self.capacity { values[index] &+= other.values[index] }
    }

    /// True when no key has counted anything.
    public var isZero: Bool { Key.allCases.allSatisfy { self[$0] == 0 } }

    public static func == (lhs: CounterSlots, rhs: CounterSlots) -> Bool {
        (0..<capacity).allSatisfy { lhs.values[$0] == rhs.values[$0] }
    }

    public func hash(into hasher: inout Hasher) {
        for index in 0..<Self.capacity { hasher.combine(values[index]) }
    }
}

extension Counter {
    /// The counters whose largest value wins when two are combined (computed once from the table).
    public static let largestKinds: [Counter] = allCases.filter {
        if case .largest = $0.spec.kind { true } else { false }
    }
}

extension CounterSlots where Key == Counter {
    /// Combines another worker's or batch's counts: totals add, the largest wins.
    @inlinable public mutating func merge(_ other: CounterSlots) {
        let before = self
        add(other)
        for counter in Counter.largestKinds { self[counter] = Swift.max(before[counter], other[counter]) }
    }
}
