/// Where the broker keeps events: a log per topic, addressed by offset.
///
/// A log is owned by the broker's loop thread and is not thread-safe. Implementations:
/// ``DurableEventLog`` (segment files on disk, fsync per each topic's policy) and
/// ``InMemoryEventLog`` (a byte budget; tests and benchmarks). The same contract suite runs
/// against both.
public protocol EventLog: AnyObject {
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
    /// Bytes of event data `topic` holds (0 for an unknown topic).
    func storedBytes(topic: String) -> Int
    /// How long each fdatasync of the log's files took since the last call, oldest first (at
    /// most the last few thousand): for the fsync-duration histogram. Empty for a log that
    /// does not sync.
    func takeSyncDurations() -> [Duration]
    /// What opening the log found: recovered records and repairs made.
    var recovery: LogRecoveryReport { get }
    /// What recovery found damaged in `topic`'s log when it opened.
    func damage(topic: String) -> StorageDamage
    /// Tells the log that every consumer group has settled `topic` below `offset`.
    /// A log with a memory budget frees those events; one on disk keeps them for retention.
    func release(topic: String, below offset: UInt64)
    /// Closes files, syncing what is open.
    func close()

    /// Offsets of `topic` below this are as durable as the topic's fsync policy promises;
    /// only these may be confirmed or delivered.
    func durableEnd(topic: String) -> UInt64
    /// A descriptor that becomes readable when more data became durable (nil: never waits).
    var syncNotificationDescriptor: Int32? { get }
    /// Takes sync completions, advancing ``durableEnd(topic:)``.
    func collectSyncs()
    /// Starts syncing what was appended since the last call, per each topic's policy.
    func flush()

    /// The first offset of `topic` stored at or after `timestampMicros`.
    func offset(topic: String, atOrAfter timestampMicros: Int64) throws(StorageError) -> UInt64
    /// Up to `limit` events with `key`, in each topic in offset order.
    func history(key: String, limit: Int) throws(StorageError) -> [(topic: String, event: StoredEvent)]
    /// Event ids stored at or after `sinceMicros` (wall clock), at most `limit` of the most
    /// recent, to rebuild the dedup window after a restart.
    func recentEventIDs(storedSince sinceMicros: Int64, limit: Int) -> [(topic: String, id: String, offset: UInt64)]
    /// The same for one topic.
    func recentEventIDs(topic: String, storedSince sinceMicros: Int64, limit: Int) -> [(id: String, offset: UInt64)]
    /// Applies retention; `consumedBelow` is each topic's lowest group cursor. Returns events
    /// dropped before every group consumed them.
    func applyRetention(consumedBelow: [String: UInt64]) -> UInt64
}

extension EventLog {
    public func takeSyncDurations() -> [Duration] { [] }
}

/// What opening a log found: recovered records and repairs made.
public struct LogRecoveryReport: Sendable {
    public var topics = 0
    public var records = 0
    public var truncatedBytes = 0
    public var corruptRecords = 0
    public var lostEvents = 0
    public var skippedBytes = 0
    public var problems: [String] = []
    public var seconds = 0.0
    /// Each damaged topic's damage.
    public var damage: [String: StorageDamage] = [:]

    public init() {}
}
