/// Where the broker keeps events and consumer-group state.
///
/// Events live in topics, addressed by offset; each consumer group has a committed cursor per
/// topic (every offset below it is settled) and a dead-letter queue. A store is owned by the
/// broker's loop thread and is not thread-safe. Implementations: ``InMemoryEventStore`` (tests,
/// benchmarks); the durable segmented log comes next behind this same interface.
public protocol EventStore: AnyObject {
    /// Appends events to `topic` and returns their offsets. Atomic: all or none.
    func append(topic: String, events: [NewEvent]) throws(StorageError) -> [UInt64]
    /// Up to `limit` events of `topic` starting at `offset` (or at the first retained event).
    func read(topic: String, from offset: UInt64, limit: Int) throws(StorageError) -> [StoredEvent]
    /// The offsets `topic` holds: first retained ..< next to be assigned. Empty for an unknown topic.
    func bounds(topic: String) -> Range<UInt64>
    /// Every topic that has ever had an event appended.
    var topics: [String] { get }
    /// Bytes of event data held.
    var storedBytes: Int { get }
    /// Tells the store that every consumer group has settled `topic` below `offset`.
    /// A store with a memory budget frees those events; a log may keep them for retention.
    func release(topic: String, below offset: UInt64)

    /// Records that `group` has settled every event of `topic` below `cursor`.
    func commitCursor(group: String, topic: String, cursor: UInt64) throws(StorageError)
    /// The committed cursors of `group`, by topic.
    func cursors(group: String) -> [String: UInt64]
    /// Every group with committed state.
    var groups: [String] { get }

    /// Adds an entry to `record.group`'s dead-letter queue; the store assigns the id.
    @discardableResult
    func addDeadLetter(_ record: DeadLetterRecord) throws(StorageError) -> UInt64
    /// Up to `limit` entries of `group` with id greater than `afterID`, by id.
    func deadLetters(group: String, after afterID: UInt64, limit: Int) -> [DeadLetterRecord]
    /// How many entries `group`'s dead-letter queue holds.
    func deadLetterCount(group: String) -> Int
    /// Removes the entries with `ids` (every entry when `ids` is nil) and returns them.
    func removeDeadLetters(group: String, ids: [UInt64]?) throws(StorageError) -> [DeadLetterRecord]
}
