extension TraceCodec {
    /// A growable byte buffer written without Array's per-append checks: the writer thread
    /// encodes a million records a second at saturation.
    struct ByteWriter {
        private var base: UnsafeMutableRawPointer
        private var capacity: Int
        private(set) var count = 0

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 1)
        }

        var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

        func free() { base.deallocate() }

        /// Makes room for `more` bytes.
        mutating func reserve(_ more: Int) {
            guard count + more > capacity else { return }
            let grown = max(capacity * 2, count + more)
            let moved = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 1)
            moved.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = moved
            capacity = grown
        }

        /// Calls `body` with where the next bytes go (``reserve(_:)`` first), to be followed by
        /// ``advance(by:)``.
        @inline(__always)
        func withUnsafeTail(_ body: (UnsafeMutableRawPointer) -> Void) { body(base + count) }

        @inline(__always)
        mutating func advance(by written: Int) { count += written }

        mutating func appendUnchecked(_ byte: UInt8) {
            base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
            count += 1
        }

        mutating func appendVarintUnchecked(_ value: UInt64) {
            var value = value
            while value >= 0x80 {
                appendUnchecked(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            appendUnchecked(UInt8(value))
        }

        /// Length-prefixed bytes.
        mutating func append(_ utf8: UnsafeRawBufferPointer) {
            reserve(10 + utf8.count)
            appendVarintUnchecked(UInt64(utf8.count))
            if let source = utf8.baseAddress, utf8.count > 0 {
                (base + count).copyMemory(from: source, byteCount: utf8.count)
                count += utf8.count
            }
        }
    }
}
