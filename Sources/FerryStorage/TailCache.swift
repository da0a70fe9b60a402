/// The most recently appended events of one topic, up to a budget of body bytes, so that
/// consumers that keep up read from memory instead of the segment files. Offsets are contiguous.
///
/// Events are held in fixed-size chunks. Appending never moves what is held, and evicting frees
/// one event's body at a time and drops a chunk once it is empty: a single array that doubled
/// when full, or shifted its live part down after evictions, would copy megabytes and fault in
/// fresh pages on the broker thread, stalling it for milliseconds every few seconds under load.
struct TailCache {
    static let chunkCapacity = 4096

    let budgetBytes: Int
    /// Held events are `chunks[0][head...]` followed by the later chunks.
    private var chunks: [[StoredEvent]] = []
    private var head = 0
    private(set) var count = 0
    /// Body bytes held.
    private(set) var bytes = 0

    init(budgetBytes: Int) {
        self.budgetBytes = budgetBytes
    }

    /// The offset of the oldest event held.
    var firstOffset: UInt64? { count > 0 ? chunks[0][head].offset : nil }

    /// Appends an event whose offset follows the last one held, then evicts the oldest events
    /// while the bodies exceed the budget.
    mutating func append(_ event: StoredEvent) {
        if chunks.isEmpty || chunks[chunks.count - 1].count == Self.chunkCapacity {
            chunks.append([])
            chunks[chunks.count - 1].reserveCapacity(Self.chunkCapacity)
        }
        chunks[chunks.count - 1].append(event)
        count += 1
        bytes += event.body.count
        while bytes > budgetBytes && count > 0 { evictOldest() }
    }

    private mutating func evictOldest() {
        bytes -= chunks[0][head].body.count
        chunks[0][head].body = []
        head += 1
        count -= 1
        if head == chunks[0].count {
            chunks.removeFirst()
            head = 0
        }
    }

    /// Up to `limit` events from `offset`, or nil when `offset` is older than the events held.
    func events(from offset: UInt64, limit: Int) -> [StoredEvent]? {
        guard let first = firstOffset, offset >= first else { return nil }
        guard offset - first < UInt64(count) else { return [] }
        // Every chunk but the last is full (evicted events keep their slots until the chunk goes).
        let index = head + Int(offset - first)
        var chunk = index / Self.chunkCapacity
        var position = index % Self.chunkCapacity
        var events: [StoredEvent] = []
        events.reserveCapacity(min(limit, count))
        while chunk < chunks.count && events.count < limit {
            let take = min(limit - events.count, chunks[chunk].count - position)
            events += chunks[chunk][position..<(position + take)]
            position = 0
            chunk += 1
        }
        return events
    }
}
