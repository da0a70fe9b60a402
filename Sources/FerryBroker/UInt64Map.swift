/// A hash map keyed by `UInt64` (delivery ids, offsets) for the broker's per-event bookkeeping:
/// open addressing with a multiplicative hash, so sequential keys spread evenly and a lookup
/// costs no `Hasher` rounds, and backward-shift deletion, so it never fills with tombstones.
/// It doubles when half full; these maps hold what is in flight, a few thousand entries.
final class UInt64Map<Value> {
    private var keys: UnsafeMutablePointer<UInt64>
    private var values: UnsafeMutablePointer<Value>
    private var used: UnsafeMutablePointer<Bool>
    private var capacity: Int
    private var shift: UInt64
    private(set) var count = 0

    init() {
        capacity = 16
        shift = 64 - 4
        keys = .allocate(capacity: capacity)
        values = .allocate(capacity: capacity)
        used = .allocate(capacity: capacity)
        used.initialize(repeating: false, count: capacity)
    }

    deinit { release(keys, values, used, capacity) }

    subscript(key: UInt64) -> Value? {
        guard let index = find(key) else { return nil }
        return values[index]
    }

    /// Stores `value` for `key`, replacing any value it had.
    func set(_ key: UInt64, _ value: Value) {
        if let index = find(key) {
            values[index] = value
            return
        }
        if (count + 1) * 2 > capacity { grow() }
        var index = home(key)
        while used[index] { index = (index + 1) & (capacity - 1) }
        keys[index] = key
        (values + index).initialize(to: value)
        used[index] = true
        count += 1
    }

    @discardableResult
    func removeValue(forKey key: UInt64) -> Value? {
        guard let index = find(key) else { return nil }
        let value = (values + index).move()
        let mask = capacity - 1
        var hole = index
        var next = index
        while true {
            next = (next + 1) & mask
            guard used[next] else { break }
            if (next - home(keys[next])) & mask >= (next - hole) & mask {
                keys[hole] = keys[next]
                (values + hole).moveInitialize(from: values + next, count: 1)
                hole = next
            }
        }
        used[hole] = false
        count -= 1
        return value
    }

    /// Every entry, in no particular order (for the cold paths: expiry scans, saves).
    var entries: [(key: UInt64, value: Value)] {
        var result: [(key: UInt64, value: Value)] = []
        result.reserveCapacity(count)
        for index in 0..<capacity where used[index] { result.append((keys[index], values[index])) }
        return result
    }

    /// The smallest key, if any.
    var minKey: UInt64? {
        var smallest: UInt64?
        for index in 0..<capacity where used[index] { smallest = min(smallest ?? .max, keys[index]) }
        return smallest
    }

    private func home(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    private func find(_ key: UInt64) -> Int? {
        var index = home(key)
        while used[index] {
            if keys[index] == key { return index }
            index = (index + 1) & (capacity - 1)
        }
        return nil
    }

    private func grow() {
        let (oldKeys, oldValues, oldUsed, oldCapacity) = (keys, values, used, capacity)
        capacity *= 2
        shift -= 1
        keys = .allocate(capacity: capacity)
        values = .allocate(capacity: capacity)
        used = .allocate(capacity: capacity)
        used.initialize(repeating: false, count: capacity)
        for old in 0..<oldCapacity where oldUsed[old] {
            var index = home(oldKeys[old])
            while used[index] { index = (index + 1) & (capacity - 1) }
            keys[index] = oldKeys[old]
            (values + index).moveInitialize(from: oldValues + old, count: 1)
            used[index] = true
            oldUsed[old] = false
        }
        release(oldKeys, oldValues, oldUsed, oldCapacity)
    }

    private func release(
        _ keys: UnsafeMutablePointer<UInt64>, _ values: UnsafeMutablePointer<Value>, _ used: UnsafeMutablePointer<Bool>,
        _ capacity: Int
    ) {
        for index in 0..<capacity where used[index] { (values + index).deinitialize(count: 1) }
        keys.deallocate()
        values.deallocate()
        used.deallocate()
    }
}
