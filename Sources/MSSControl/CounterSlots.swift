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
/// capacity is a type parameter sized to its table (the aliases below); `fits` checks it against the
/// key's cases, asserted on creation and by a unit test.
public struct CounterSlots<Key: CounterKey, let capacity: Int>: Sendable, Hashable {
    /// True when every key of the table has a slot.
    public static var fits: Bool { Key.allCases.allSatisfy { $0.slot >= 0 && $0.slot < capacity } }

    @usableFromInline var values = InlineArray<capacity, UInt64>(repeating: 0)

    @inlinable public init() { assert(Self.fits, "\(Key.self) has more cases than \(capacity) slots") }

    @inlinable public subscript(key: Key) -> UInt64 {
        get { values[key.slot] }
        set { values[key.slot] = newValue }
    }

    /// Adds one to `key`.
    @inlinable @inline(__always) public mutating func increment(_ key: Key) { values[key.slot] &+= 1 }

    /// Adds every count of `other`.
    @inlinable public mutating func add(_ other: Self) {
        for index in 0..<capacity { values[index] &+= other.values[index] }
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        (0..<capacity).allSatisfy { lhs.values[$0] == rhs.values[$0] }
    }

    public func hash(into hasher: inout Hasher) {
        for index in 0..<capacity { hasher.combine(values[index]) }
    }
}

/// The daemon-wide counters (14 today).
public typealias CounterTableSlots = CounterSlots<Counter, 16>
/// One peer's counters: small, since a policy may hold 100,000 peers and each is counted twice.
public typealias PeerCounterSlots = CounterSlots<PeerCounter, 8>
/// Per outcome, per malformation, per reason a missing MSS was not inserted.
public typealias OutcomeSlots = CounterSlots<OutcomeKind, 16>
public typealias MalformedSlots = CounterSlots<MalformedReason, 16>
public typealias MissingMSSSlots = CounterSlots<MissingMSSReason, 8>

extension Counter {
    /// The counters whose largest value wins when two are combined (computed once from the table).
    public static let largestKinds: [Counter] = allCases.filter {
        if case .largest = $0.spec.kind { true } else { false }
    }
}

extension CounterSlots where Key == Counter {
    /// Combines another worker's or batch's counts: totals add, the largest wins.
    @inlinable public mutating func merge(_ other: Self) {
        let before = self
        add(other)
        for counter in Counter.largestKinds { self[counter] = Swift.max(before[counter], other[counter]) }
    }
}
