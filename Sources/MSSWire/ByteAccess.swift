// Big-endian field access over raw packet bytes.
//
// Every view in this module stores an `UnsafeRawBufferPointer` (or its mutable twin) that the caller obtained
// inside a `withUnsafe…Bytes` closure. Views never outlive that closure: they are created, used and dropped
// within it. Offsets passed to these helpers have been checked against the buffer length by the view's
// validating constructor, so the loads below cannot run past the end.

extension UnsafeRawBufferPointer {
    /// The bytes `lower..<upper` without the range check of `rebasing:`; for offsets a validating
    /// constructor has already checked (asserted in debug builds).
    @inlinable @inline(__always)
    func unchecked(_ lower: Int, _ upper: Int) -> UnsafeRawBufferPointer {
        assert(lower >= 0 && lower <= upper && upper <= count, "slice outside validated bounds")
        return UnsafeRawBufferPointer(start: baseAddress.map { $0 + lower }, count: upper &- lower)
    }

    @inlinable @inline(__always)
    func u8(_ offset: Int) -> UInt8 {
        self[offset]
    }

    @inlinable @inline(__always)
    func u16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    func u32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    /// The bytes `lower..<upper` without the range check of `rebasing:` (asserted in debug builds).
    @inlinable @inline(__always)
    func unchecked(_ lower: Int, _ upper: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(mutating: UnsafeRawBufferPointer(self).unchecked(lower, upper))
    }

    /// Reads go through the read-only view: one definition of the byte order.
    @inlinable @inline(__always)
    func u8(_ offset: Int) -> UInt8 { UnsafeRawBufferPointer(self).u8(offset) }

    @inlinable @inline(__always)
    func u16(_ offset: Int) -> UInt16 { UnsafeRawBufferPointer(self).u16(offset) }

    @inlinable @inline(__always)
    func setU8(_ offset: Int, _ value: UInt8) {
        self[offset] = value
    }

    @inlinable @inline(__always)
    func setU16(_ offset: Int, _ value: UInt16) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inlinable @inline(__always)
    func setU32(_ offset: Int, _ value: UInt32) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }
}
