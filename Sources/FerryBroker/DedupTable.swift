#if canImport(Glibc)
    import Glibc
#endif

/// An open-addressing hash table from ``DedupKey`` to a 64-bit value, with a fixed capacity
/// chosen at creation, so no insert ever rehashes on the broker loop (``DedupWindow`` moves
/// keys to a bigger table a few at a time instead). The owner keeps it at most half full.
///
/// Linear probing with backward-shift deletion, so probe sequences stay short however many
/// keys come and go. A table whose keys are being moved out is scanned by slot, which a shift
/// would disturb: there ``markRemoved(_:)`` leaves the key in place with a marker instead.
/// The slots are zeroed anonymous memory in small pages (never huge ones), faulted in either at
/// creation, off the broker thread (``DedupTableNursery``), or one by one as keys land on them.
/// (Transparent huge pages, asked for earlier to spare TLB misses, made the first touches of a
/// freshly doubled table zero 2 MiB at a time, a stall of 5–20 ms on the broker thread at 32k
/// and 64k ids.)
final class DedupTable {
    private struct Slot {
        /// Zero marks a free slot (``DedupKey/high`` is never zero).
        var high: UInt64
        var low: UInt64
        var value: UInt64
    }

    /// The value of a key removed with ``markRemoved(_:)``; offsets never get this high.
    private static let removedMarker = UInt64.max

    private let slots: UnsafeMutablePointer<Slot>
    private let mappedBytes: Int
    /// False once ``unmap()`` gave the slots back.
    private var isMapped = true
    private let mask: Int
    /// Keys held.
    private(set) var count = 0
    let capacity: Int

    /// - Parameters:
    ///   - capacity: rounded up to a power of two.
    ///   - prefaulted: fault every page in now (see ``DedupTableNursery``) rather than as keys
    ///     land on them.
    init(capacity: Int, prefaulted: Bool = false) {
        var size = 16
        while size < capacity { size <<= 1 }
        self.capacity = size
        mask = size - 1
        mappedBytes = size * MemoryLayout<Slot>.stride
        guard let mapped = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapped != MAP_FAILED
        else { fatalError("cannot map \(mappedBytes) bytes for the dedup table") }
        _ = madvise(mapped, mappedBytes, 15)  // 15: MADV_NOHUGEPAGE, also where THP is "always"
        if prefaulted {
            // Zero pages only need a write each to be faulted in; the kernel zeroes them.
            let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))
            for offset in stride(from: 0, to: mappedBytes, by: pageBytes) {
                mapped.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
            }
        }
        slots = mapped.bindMemory(to: Slot.self, capacity: size)
    }

    deinit { unmap() }

    /// Gives the slots back to the system ahead of the object's end, on the thread that calls
    /// it (see ``DedupTableNursery/release(_:)``); the table must not be used afterwards.
    func unmap() {
        guard isMapped else { return }
        isMapped = false
        munmap(slots, mappedBytes)
    }

    /// The value stored for `key`.
    func value(for key: DedupKey) -> UInt64? {
        var index = Int(truncatingIfNeeded: key.low) & mask
        while true {
            let slot = slots[index]
            if slot.high == key.high && slot.low == key.low { return slot.value == Self.removedMarker ? nil : slot.value }
            if slot.high == 0 { return nil }
            index = (index + 1) & mask
        }
    }

    /// Stores `value` for `key`; replaces an existing value only when `replacing` is true.
    func insert(_ key: DedupKey, value: UInt64, replacing: Bool = true) {
        var index = Int(truncatingIfNeeded: key.low) & mask
        while true {
            let slot = slots[index]
            if slot.high == key.high && slot.low == key.low {
                if slot.value == Self.removedMarker {
                    slots[index].value = value
                    count += 1
                } else if replacing {
                    slots[index].value = value
                }
                return
            }
            if slot.high == 0 { break }
            index = (index + 1) & mask
        }
        precondition(count < mask, "dedup table full")
        slots[index] = Slot(high: key.high, low: key.low, value: value)
        count += 1
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    func remove(_ key: DedupKey) -> Bool {
        var index = Int(truncatingIfNeeded: key.low) & mask
        while true {
            let slot = slots[index]
            if slot.high == key.high && slot.low == key.low { break }
            if slot.high == 0 { return false }
            index = (index + 1) & mask
        }
        // Backward shift: pull later keys of the run into the hole when their home slot allows.
        var hole = index
        var next = index
        while true {
            next = (next + 1) & mask
            let slot = slots[next]
            if slot.high == 0 { break }
            let home = Int(truncatingIfNeeded: slot.low) & mask
            if (next - home) & mask >= (next - hole) & mask {
                slots[hole] = slot
                hole = next
            }
        }
        slots[hole] = Slot(high: 0, low: 0, value: 0)
        count -= 1
        return true
    }

    /// Removes `key` but leaves its slot taken (see the type's notes); returns whether it was there.
    @discardableResult
    func markRemoved(_ key: DedupKey) -> Bool {
        var index = Int(truncatingIfNeeded: key.low) & mask
        while slots[index].high != 0 {
            if slots[index].high == key.high && slots[index].low == key.low {
                guard slots[index].value != Self.removedMarker else { return false }
                slots[index].value = Self.removedMarker
                count -= 1
                return true
            }
            index = (index + 1) & mask
        }
        return false
    }

    /// Takes the key and value in slot `index` out of a table that is being emptied slot by
    /// slot; later slots of the table are not disturbed.
    func take(slot index: Int) -> (key: DedupKey, value: UInt64)? {
        let slot = slots[index]
        guard slot.high != 0, slot.value != Self.removedMarker else { return nil }
        slots[index].value = Self.removedMarker
        count -= 1
        return (DedupKey(high: slot.high, low: slot.low), slot.value)
    }

    /// Empties a table that holds exactly `keys`, inserted in this order with nothing removed
    /// since it was last empty, in `O(keys)` rather than `O(capacity)`: going backwards, no key
    /// still in the table probed past a slot that is freed.
    func removeAll(insertedInOrder keys: [DedupKey]) {
        precondition(keys.count == count, "not the keys this table holds")
        for key in keys.reversed() {
            var index = Int(truncatingIfNeeded: key.low) & mask
            while slots[index].high != key.high || slots[index].low != key.low { index = (index + 1) & mask }
            slots[index] = Slot(high: 0, low: 0, value: 0)
        }
        count = 0
    }
}
