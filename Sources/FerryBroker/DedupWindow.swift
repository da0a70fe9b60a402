/// Identifies an event for deduplication: two independent 64-bit hashes of its topic and id,
/// so lookups never compare strings and a false match is practically impossible (~2⁻¹²⁸).
struct DedupKey: Hashable {
    let high: UInt64
    let low: UInt64

    init(topic: String, id: String) {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x8422_2325_cbf2_9ce4
        func mix(_ byte: UInt8) {
            first = (first ^ UInt64(byte)) &* 0x100_0000_01b3
            second = (second &+ UInt64(byte) &+ 1) &* 0x9e37_79b9_7f4a_7c15
            second ^= second >> 29
        }
        for byte in topic.utf8 { mix(byte) }
        mix(0)
        for byte in id.utf8 { mix(byte) }
        high = first
        low = second
    }
}

/// Remembers recently stored event ids so that a republished event is confirmed, not stored twice.
struct DedupWindow {
    private struct Entry {
        let key: DedupKey
        let storedAt: UInt64
    }

    let windowNanoseconds: UInt64
    let maxEntries: Int
    private var offsets: [DedupKey: UInt64] = [:]
    private var order: [Entry] = []
    private var head = 0

    init(windowNanoseconds: UInt64, maxEntries: Int) {
        self.windowNanoseconds = windowNanoseconds
        self.maxEntries = maxEntries
    }

    /// The offset the event with this key was stored at, if it is still in the window.
    func offset(for key: DedupKey) -> UInt64? { offsets[key] }

    mutating func remember(_ key: DedupKey, offset: UInt64, now: UInt64) {
        guard windowNanoseconds > 0, maxEntries > 0 else { return }
        offsets[key] = offset
        order.append(Entry(key: key, storedAt: now))
        if order.count - head > maxEntries { evictOne() }
    }

    /// Forgets entries older than the window.
    mutating func expire(now: UInt64) {
        while head < order.count, now &- order[head].storedAt > windowNanoseconds { evictOne() }
        if head > 65_536 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    var count: Int { offsets.count }

    private mutating func evictOne() {
        offsets.removeValue(forKey: order[head].key)
        head += 1
    }
}
