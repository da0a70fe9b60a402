/// Remembers recently stored event ids so that a republished event is confirmed, not stored twice.
struct DedupWindow {
    private struct Entry {
        let key: String
        let storedAt: UInt64
    }

    let windowNanoseconds: UInt64
    let maxEntries: Int
    private var offsets: [String: UInt64] = [:]
    private var order: [Entry] = []
    private var head = 0

    init(windowNanoseconds: UInt64, maxEntries: Int) {
        self.windowNanoseconds = windowNanoseconds
        self.maxEntries = maxEntries
    }

    static func key(topic: String, id: String) -> String { topic + "\u{0}" + id }

    /// The offset the event with this key was stored at, if it is still in the window.
    func offset(for key: String) -> UInt64? { offsets[key] }

    mutating func remember(_ key: String, offset: UInt64, now: UInt64) {
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
