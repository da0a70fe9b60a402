/// An ``EventStore`` in memory, with a byte budget.
///
/// When the budget is spent, appends fail with ``StorageError/Code/full`` until consumer groups
/// settle enough events to ``release(topic:below:)`` them: a slow consumer makes publishers wait,
/// never the broker grow without bound. Nothing survives a restart.
public final class InMemoryEventStore: EventStore {
    private final class Topic {
        var first: UInt64 = 0
        var events: [StoredEvent] = []
        var ids: [String] = []
        /// Index in `events` of offset `first`; events before it are released.
        var head = 0
        var next: UInt64 { first + UInt64(events.count - head) }
    }

    /// The most event bytes held at once.
    public let maxBytes: Int
    public private(set) var storedBytes = 0
    private var topicsByName: [String: Topic] = [:]
    private var groupState = GroupStateSnapshot()
    private var deadLetterQueues: [String: [DeadLetterRecord]] = [:]
    private var nextDeadLetterID: [String: UInt64] = [:]

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

    public func release(topic name: String, below offset: UInt64) {
        guard let topic = topicsByName[name], offset > topic.first else { return }
        let count = Int(min(offset, topic.next) - topic.first)
        for index in topic.head..<(topic.head + count) {
            storedBytes -= topic.events[index].body.count
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

    public func recentEventIDs(storedSince sinceMicros: Int64, limit: Int) -> [(topic: String, id: String, offset: UInt64)] { [] }

    public func applyRetention(consumedBelow: [String: UInt64]) -> UInt64 { 0 }

    public func saveGroupState(_ changes: GroupStateChanges) throws(StorageError) { groupState.apply(changes) }

    public var groupStateSaveFailures: Int { 0 }

    public func loadGroupState() throws(StorageError) -> GroupStateSnapshot { groupState }

    public func addDeadLetters(_ entries: [(record: DeadLetterRecord, removingRetry: RetryID?)]) throws(StorageError) -> [UInt64] {
        var changes = GroupStateChanges()
        var ids: [UInt64] = []
        for (record, retry) in entries {
            if let retry { changes.removeRetry(retry) }
            let id = (nextDeadLetterID[record.group] ?? 0) + 1
            nextDeadLetterID[record.group] = id
            var record = record
            record.id = id
            deadLetterQueues[record.group, default: []].append(record)
            ids.append(id)
        }
        groupState.apply(changes)
        return ids
    }

    public func deadLetters(group: String, after afterID: UInt64, limit: Int) -> [DeadLetterRecord] {
        Array((deadLetterQueues[group] ?? []).lazy.filter { $0.id > afterID }.prefix(limit))
    }

    public func deadLetteredOffsets(group: String, topic: String) -> Set<UInt64> {
        Set((deadLetterQueues[group] ?? []).filter { $0.topic == topic }.map(\.offset))
    }

    public func deadLetterBodies(group: String, topic: String, offset: UInt64) -> [[UInt8]] {
        (deadLetterQueues[group] ?? []).filter { $0.topic == topic && $0.offset == offset }.map(\.body)
    }

    public func deadLetterCount(group: String) -> Int { deadLetterQueues[group]?.count ?? 0 }

    public func deadLetterIDs(group: String, limit: Int) -> [UInt64] {
        (deadLetterQueues[group] ?? []).prefix(limit).map(\.id)
    }

    public func removeDeadLetters(group: String, ids: [UInt64]?) throws(StorageError) -> [DeadLetterRecord] {
        guard let queue = deadLetterQueues[group] else { return [] }
        guard let ids else {
            deadLetterQueues[group] = []
            return queue
        }
        let wanted = Set(ids)
        deadLetterQueues[group] = queue.filter { !wanted.contains($0.id) }
        return queue.filter { wanted.contains($0.id) }
    }

    public func requeueDeadLetters(
        group: String, ids: [UInt64]?, as retry: (DeadLetterRecord) -> RetryState
    ) throws(StorageError) -> [DeadLetterRecord] {
        let removed = try removeDeadLetters(group: group, ids: ids)
        var changes = GroupStateChanges()
        for record in removed { changes.addRetry(retry(record)) }
        groupState.apply(changes)
        return removed
    }
}
