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
///
/// Ids live in generations, oldest first, each a table sized when it is created and never grown:
/// a table that doubles rehashes every id it holds at once, a stall of tens of milliseconds on the
/// broker loop at 100k ids. A generation is dropped once all of its ids have expired.
struct DedupWindow {
    private struct Entry {
        let key: DedupKey
        let storedAt: UInt64
    }

    private struct Generation {
        var offsets: [DedupKey: UInt64]
        /// In the order they were stored; `entries[..<head]` are expired.
        var entries: [Entry]
        var head = 0
        let capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
            offsets = Dictionary(minimumCapacity: capacity)
            entries = []
            entries.reserveCapacity(capacity)
        }
    }

    /// The first generation's capacity; each next one doubles up to the largest.
    static let smallestGeneration = 1024
    static let largestGeneration = 65_536

    let windowNanoseconds: UInt64
    let maxEntries: Int
    private var generations: [Generation] = []
    private var live = 0

    init(windowNanoseconds: UInt64, maxEntries: Int) {
        self.windowNanoseconds = windowNanoseconds
        self.maxEntries = maxEntries
    }

    /// The offset the event with this key was stored at, if it is still in the window.
    func offset(for key: DedupKey) -> UInt64? {
        for index in generations.indices.reversed() {
            if let offset = generations[index].offsets[key] { return offset }
        }
        return nil
    }

    mutating func remember(_ key: DedupKey, offset: UInt64, now: UInt64) {
        guard windowNanoseconds > 0, maxEntries > 0 else { return }
        var last = generations.count - 1
        if last < 0 || generations[last].entries.count == generations[last].capacity {
            let previous = last < 0 ? Self.smallestGeneration / 2 : generations[last].capacity
            generations.append(Generation(capacity: min(previous * 2, Self.largestGeneration)))
            dropExpiredGenerations()
            last = generations.count - 1
        }
        generations[last].offsets[key] = offset
        generations[last].entries.append(Entry(key: key, storedAt: now))
        live += 1
        if live > maxEntries { evictOne() }
    }

    /// Forgets entries older than the window.
    mutating func expire(now: UInt64) {
        while !generations.isEmpty, generations[0].head < generations[0].entries.count,
            now &- generations[0].entries[generations[0].head].storedAt > windowNanoseconds
        {
            evictOne()
        }
    }

    var count: Int { generations.reduce(0) { $0 + $1.offsets.count } }

    private mutating func evictOne() {
        let key = generations[0].entries[generations[0].head].key
        generations[0].offsets.removeValue(forKey: key)
        generations[0].head += 1
        live -= 1
        dropExpiredGenerations()
    }

    /// Drops leading generations whose every entry expired; the newest one stays.
    private mutating func dropExpiredGenerations() {
        var expired = 0
        while expired < generations.count - 1 && generations[expired].head == generations[expired].entries.count { expired += 1 }
        if expired > 0 { generations.removeFirst(expired) }
    }
}
