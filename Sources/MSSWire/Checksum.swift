/// The Internet checksum: RFC 1071 (full computation) and RFC 1624 (incremental update).
///
/// Sums are carried in a 64-bit accumulator of big-endian 16-bit words and folded only at the end, so a
/// caller can add a pseudo-header and a segment in separate calls.
public enum InternetChecksum {
    /// Adds `bytes` to `sum` as big-endian 16-bit words; an odd trailing byte is padded with zero (RFC 1071).
    @inlinable
    public static func add(_ bytes: UnsafeRawBufferPointer, to sum: UInt64 = 0) -> UInt64 {
        var acc = sum
        var index = 0
        let count = bytes.count
        // 32-bit words: (hi << 16 | lo) is congruent to hi + lo modulo 0xffff, so summing 32-bit words and
        // folding later gives the same result as summing 16-bit words, with half the additions.
        while index + 4 <= count {
            acc &+= UInt64(bytes.u32(index))
            index += 4
        }
        if index + 2 <= count {
            acc &+= UInt64(bytes.u16(index))
            index += 2
        }
        if index < count {
            acc &+= UInt64(bytes[index]) << 8
        }
        return acc
    }

    /// Folds a wide sum into 16 bits with end-around carry.
    @inlinable
    public static func fold(_ sum: UInt64) -> UInt16 {
        var value = sum
        while value >> 16 != 0 {
            value = (value & 0xffff) &+ (value >> 16)
        }
        return UInt16(truncatingIfNeeded: value)
    }

    /// The checksum field value for data whose word sum is `sum`: the ones' complement of the folded sum.
    @inlinable
    public static func finish(_ sum: UInt64) -> UInt16 {
        ~fold(sum)
    }

    /// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), the checksum after one 16-bit word changes from `old` to `new`.
    ///
    /// - Parameter oddOffset: the changed field starts at an odd byte offset from the start of the checksummed
    ///   data. Its two bytes then sit in the low half of one word and the high half of the next, so its
    ///   contribution to the sum is the byte-swapped value; the ones' complement sum commutes with byte
    ///   swapping (RFC 1071 section 2(B)), so swapping `old` and `new` keeps the update exact.
    @inlinable
    public static func update(_ checksum: UInt16, old: UInt16, new: UInt16, oddOffset: Bool = false) -> UInt16 {
        let m = oddOffset ? old.byteSwapped : old
        let mPrime = oddOffset ? new.byteSwapped : new
        let sum = UInt64(~checksum) &+ UInt64(~m) &+ UInt64(mPrime)
        return ~fold(sum)
    }

    /// The sum of the IPv4 pseudo-header (RFC 793 section 3.1): source, destination, zero, protocol, TCP length.
    @inlinable
    public static func pseudoHeaderIPv4(
        source: UInt32, destination: UInt32, protocolNumber: UInt8, length: Int
    ) -> UInt64 {
        UInt64(source >> 16) &+ UInt64(source & 0xffff) &+ UInt64(destination >> 16)
            &+ UInt64(destination & 0xffff) &+ UInt64(protocolNumber) &+ UInt64(length)
    }

    /// The sum of the IPv6 pseudo-header (RFC 8200 section 8.1): the two addresses, the upper-layer length
    /// and the next header value. `addresses` is the 32 bytes of source followed by destination.
    @inlinable
    public static func pseudoHeaderIPv6(
        addresses: UnsafeRawBufferPointer, protocolNumber: UInt8, length: Int
    ) -> UInt64 {
        add(addresses) &+ UInt64(UInt32(truncatingIfNeeded: length) >> 16)
            &+ UInt64(UInt32(truncatingIfNeeded: length) & 0xffff) &+ UInt64(protocolNumber)
    }
}
