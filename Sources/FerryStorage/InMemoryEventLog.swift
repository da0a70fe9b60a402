/// An ``EventLog`` in memory, with a byte budget.
///
/// When the budget is spent, appends fail with ``StorageError/Code/full`` until consumer groups
/// settle enough events to ``release(topic:below:)`` them: a slow consumer makes publishers wait,
/// never the broker grow without bound. Nothing survives a restart.
public final class InMemoryEventLog: EventLog {
    private final class Topic {
        var first: UInt64 = 0
        var events: [StoredEvent] = []
        var ids: [String] = []
        /// Index in `events` of offset `first`; events before it are released.
        var head = 0
        /// Bytes of the events not yet released.
        var bytes = 0
        var next: UInt64 { first + UInt64(events.count - head) }
    }

    /// The most event bytes held at once.
    public let maxBytes: Int
    public private(set) var storedBytes = 0
    private var topicsByName: [String: Topic] = [:]
    /// Nothing to recover: a new in-memory log is empty.
    public let recovery = LogRecoveryReport()

    public init(maxBytes: Int = 1 << 30) {
        self.maxBytes = maxBytes
    }

    public func append(topic name: String, events: [NewEvent]) throws(StorageError) -> [UInt64] {
        let bytes = events.reduce(0) { $0 + $1.body.count }
        guard storedBytes + bytes <= maxBytes else {
            throw StorageError(.full, "the in-memory store's budget of \(maxBytes) bytes is spent")
        }
        let topic = topicsByName[name] ?? Topic()
        topicsByName[name] = topic
        var offsets: [UInt64] = []
        offsets.reserveCapacity(events.count)
        for event in events {
            let offset = topic.next
            topic.events.append(StoredEvent(offset: offset, key: event.key, timestampMicros: event.timestampMicros, body: event.body))
            topic.ids.append(event.id)
            offsets.append(offset)
        }
        storedBytes += bytes
        topic.bytes += bytes
        return offsets
    }

    public func read(topic name: String, from offset: UInt64, limit: Int) throws(StorageError) -> [StoredEvent] {
        guard let topic = topicsByName[name], limit > 0 else { return [] }
        let start = max(offset, topic.first)
        guard start < topic.next else { return [] }
        let lower = topic.head + Int(start - topic.first)
        let upper = lower + min(limit, topic.events.count - lower)
        return Array(topic.events[lower..<upper])
    }

    public func bounds(topic name: String) -> Range<UInt64> {
        guard let topic = topicsByName[name] else { return 0..<0 }
        return topic.first..<topic.next
    }

    public var topics: [String] { Array(topicsByName.keys) }

    public func storedBytes(topic name: String) -> Int { topicsByName[name]?.bytes ?? 0 }

    public func damage(topic: String) -> StorageDamage { StorageDamage() }

    public func release(topic name: String, below offset: UInt64) {
        guard let topic = topicsByName[name], offset > topic.first else { return }
        let count = Int(min(offset, topic.next) - topic.first)
        for index in topic.head..<(topic.head + count) {
            storedBytes -= topic.events[index].body.count
            topic.bytes -= topic.events[index].body.count
            topic.events[index].body = []
        }
        topic.head += count
        topic.first += UInt64(count)
        if topic.head > 4096 && topic.head * 2 > topic.events.count {
            topic.events.removeFirst(topic.head)
            topic.ids.removeFirst(topic.head)
            topic.head = 0
        }
    }

    public func close() {}

    public func durableEnd(topic name: String) -> UInt64 { bounds(topic: name).upperBound }
    public var syncNotificationDescriptor: Int32? { nil }
    public func collectSyncs() {}
    public func flush() {}

    public func offset(topic name: String, atOrAfter timestampMicros: Int64) throws(StorageError) -> UInt64 {
        guard let topic = topicsByName[name] else { return 0 }
        let live = topic.events[topic.head...]
        return live.first { $0.timestampMicros >= timestampMicros }?.offset ?? topic.next
    }

    public func history(key: String, limit: Int) throws(StorageError) -> [(topic: String, event: StoredEvent)] {
        var found: [(topic: String, event: StoredEvent)] = []
        for (name, topic) in topicsByName.sorted(by: { $0.key < $1.key }) {
            for event in topic.events[topic.head...] where event.key == key && found.count < limit { found.append((name, event)) }
        }
        return found
    }

    public func recentEventIDs(storedSince sinceMicros: Int64, limit: Int) -> [(topic: String, id: String, offset: UInt64)] {
        var ids: [(topic: String, id: String, offset: UInt64, timestamp: Int64)] = []
        for (name, topic) in topicsByName {
            for index in topic.head..<topic.events.count where !topic.ids[index].isEmpty {
                let event = topic.events[index]
                if event.timestampMicros >= sinceMicros { ids.append((name, topic.ids[index], event.offset, event.timestampMicros)) }
            }
        }
        return ids.sorted { $0.timestamp < $1.timestamp }.suffix(limit).map { ($0.topic, $0.id, $0.offset) }
    }

    public func recentEventIDs(topic name: String, storedSince sinceMicros: Int64, limit: Int) -> [(id: String, offset: UInt64)] {
        guard let topic = topicsByName[name] else { return [] }
        var ids: [(id: String, offset: UInt64)] = []
        for index in topic.head..<topic.events.count where !topic.ids[index].isEmpty && topic.events[index].timestampMicros >= sinceMicros {
            ids.append((topic.ids[index], topic.events[index].offset))
        }
        return Array(ids.suffix(limit))
    }

    /// Nothing is kept for retention: memory is freed as groups settle (``release(topic:below:)``).
    public func applyRetention(consumedBelow: [String: UInt64]) -> UInt64 { 0 }
}
