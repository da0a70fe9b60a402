/// An open-addressing hash table from ``DedupKey`` to a 64-bit value, with a fixed capacity
/// chosen at creation: it never rehashes by itself, so no insert ever stalls the broker loop.
/// ``DedupWindow`` moves ids into a larger table a few slots at a time instead.
///
/// Linear probing; removed keys leave a tombstone, which keeps the probe chains of the keys
/// after them intact. The owner keeps `count + tombstones` below about half the capacity.
final class DedupTable {
    private struct Slot {
        /// Zero marks a free slot (``DedupKey/high`` is never zero).
        var high: UInt64
        var low: UInt64
        /// The stored value, or, in a free slot, 1 for a tombstone and 0 for never used.
        var value: UInt64
    }

    private let slots: UnsafeMutableBufferPointer<Slot>
    private let mask: Int
    /// Keys held.
    private(set) var count = 0
    /// Slots freed by a removal that probes must still step over.
    private(set) var tombstones = 0
    var capacity: Int { slots.count }

    /// - Parameter capacity: rounded up to a power of two.
    init(capacity: Int) {
        var size = 16
        while size < capacity { size <<= 1 }
        slots = .allocate(capacity: size)
        slots.initialize(repeating: Slot(high: 0, low: 0, value: 0))
        mask = size - 1
    }

    deinit { slots.deallocate() }

    /// The value stored for `key`.
    func value(for key: DedupKey) -> UInt64? {
        var index = Int(truncatingIfNeeded: key.low) & mask
        while true {
            let slot = slots[index]
            if slot.high == key.high && slot.low == key.low { return slot.value }
            if slot.high == 0 && slot.value == 0 { return nil }
            index = (index + 1) & mask
        }
    }

    /// Stores `value` for `key`; replaces an existing value only when `replacing` is true.
    func insert(_ key: DedupKey, value: UInt64, replacing: Bool = true) {
        var index = Int(truncatingIfNeeded: key.low) & mask
        var reusable: Int?
        while true {
            let slot = slots[index]
            if slot.high == key.high && slot.low == key.low {
                if replacing { slots[index].value = value }
                return
            }
            if slot.high == 0 {
                if slot.value == 0 { break }
                if reusable == nil { reusable = index }
            }
            index = (index + 1) & mask
        }
        if let reusable {
            index = reusable
            tombstones -= 1
        }
        slots[index] = Slot(high: key.high, low: key.low, value: value)
        count += 1
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    func remove(_ key: DedupKey) -> Bool {
        var index = Int(truncatingIfNeeded: key.low) & mask
        while true {
            let slot = slots[index]
            if slot.high == key.high && slot.low == key.low {
                removeSlot(at: index)
                return true
            }
            if slot.high == 0 && slot.value == 0 { return false }
            index = (index + 1) & mask
        }
    }

    /// Removes every key; `O(capacity)`.
    func removeAll() {
        slots.update(repeating: Slot(high: 0, low: 0, value: 0))
        count = 0
        tombstones = 0
    }

    /// Empties a table that holds exactly `keys`, inserted in this order with nothing removed
    /// since it was last empty, in `O(keys)` rather than `O(capacity)`: going backwards, no key
    /// still in the table probed past a slot that is freed.
    func removeAll(insertedInOrder keys: [DedupKey]) {
        precondition(keys.count == count && tombstones == 0, "not the keys this table holds")
        for key in keys.reversed() {
            var index = Int(truncatingIfNeeded: key.low) & mask
            while slots[index].high != key.high || slots[index].low != key.low { index = (index + 1) & mask }
            slots[index] = Slot(high: 0, low: 0, value: 0)
        }
        count = 0
    }

    /// Takes the key and value in slot `index` out of the table, if the slot holds one.
    func take(slot index: Int) -> (key: DedupKey, value: UInt64)? {
        let slot = slots[index]
        guard slot.high != 0 else { return nil }
        removeSlot(at: index)
        return (DedupKey(high: slot.high, low: slot.low), slot.value)
    }

    private func removeSlot(at index: Int) {
        slots[index] = Slot(high: 0, low: 0, value: 1)
        count -= 1
        tombstones += 1
    }
}
