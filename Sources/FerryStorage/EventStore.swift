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
    /// What recovery found damaged in `topic`'s log when the store opened.
    func damage(topic: String) -> StorageDamage
    /// Tells the store that every consumer group has settled `topic` below `offset`.
    /// A store with a memory budget frees those events; a log keeps them for retention.
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
    /// Event ids stored at or after `sinceMicros` (wall clock), to rebuild the dedup window
    /// after a restart.
    func recentEventIDs(storedSince sinceMicros: Int64, limit: Int) -> [(topic: String, id: String, offset: UInt64)]
    /// Applies retention; `consumedBelow` is each topic's lowest group cursor. Returns events
    /// dropped before every group consumed them.
    func applyRetention(consumedBelow: [String: UInt64]) -> UInt64

    /// Saves group definitions, cursors and retries atomically, in the order of the calls. A
    /// store may save in the background: it then takes the changes even when it throws, retries
    /// a failed save itself (in order, before later ones), and throws the error of an earlier
    /// save that is still failing. The caller never passes the same changes again.
    func saveGroupState(_ changes: GroupStateChanges) throws(StorageError)
    /// Saves of group state that failed so far, each retried (for a metric): a store saving in
    /// the background counts failures no caller saw.
    var groupStateSaveFailures: Int { get }
    /// The saved group state.
    func loadGroupState() throws(StorageError) -> GroupStateSnapshot
    /// Identifies the group-state saves made so far: once ``durableGroupStateTicket`` reaches
    /// it, they survive a power cut.
    var groupStateTicket: UInt64 { get }
    /// The last ticket whose save, and every one before it, is on disk through a power cut.
    var durableGroupStateTicket: UInt64 { get }
    /// A descriptor that becomes readable when ``durableGroupStateTicket`` moved (nil: saves
    /// are durable, or not, as they are made, and nothing waits).
    var groupStateNotificationDescriptor: Int32? { get }
    /// Takes what made ``groupStateNotificationDescriptor`` readable.
    func collectGroupStateNotifications()
    /// Asks for the saves made so far to become durable now, not at the end of the interval
    /// that bounds cursor syncs.
    func syncGroupStateSoon()

    /// Adds entries to their groups' dead-letter queues in one step, on disk when this returns
    /// (a cursor saved later settles the events), each removing the saved retry `removingRetry`
    /// (a requeued dead letter failing again), after every save of group state made before.
    /// The store assigns the ids, returned in order.
    @discardableResult
    func addDeadLetters(_ entries: [(record: DeadLetterRecord, removingRetry: RetryID?)]) throws(StorageError) -> [UInt64]
    /// Up to `limit` entries of `group` with id greater than `afterID`, by id.
    func deadLetters(group: String, after afterID: UInt64, limit: Int) -> [DeadLetterRecord]
    /// Offsets of `topic` in `group`'s dead-letter queue, so that a restart does not redeliver an
    /// event dead-lettered after the group's cursor was last saved.
    func deadLetteredOffsets(group: String, topic: String) -> Set<UInt64>
    /// The stored envelopes of `group`'s dead-letter entries for `offset` of `topic`: an entry
    /// names the event at that offset only if the log still holds the same envelope there (a
    /// log that lost its tail gives those offsets to new events).
    func deadLetterBodies(group: String, topic: String, offset: UInt64) -> [[UInt8]]
    /// The ids of `group`'s oldest `limit` entries (no bodies read).
    func deadLetterIDs(group: String, limit: Int) -> [UInt64]
    /// How many entries `group`'s dead-letter queue holds.
    func deadLetterCount(group: String) -> Int
    /// Removes the entries with `ids` (every entry when `ids` is nil) and returns them.
    func removeDeadLetters(group: String, ids: [UInt64]?) throws(StorageError) -> [DeadLetterRecord]
    /// Moves the entries with `ids` (every entry when `ids` is nil) into the saved retries, each
    /// as `retry` makes it, in one atomic step after the group state saved so far, and returns
    /// them: a crash leaves every entry either a dead letter or a retry.
    func requeueDeadLetters(
        group: String, ids: [UInt64]?, as retry: (DeadLetterRecord) -> RetryState
    ) throws(StorageError) -> [DeadLetterRecord]
}

extension EventStore {
    public func damage(topic: String) -> StorageDamage { StorageDamage() }
    public var groupStateTicket: UInt64 { 0 }
    public var durableGroupStateTicket: UInt64 { 0 }
    public var groupStateNotificationDescriptor: Int32? { nil }
    public func collectGroupStateNotifications() {}
    public func syncGroupStateSoon() {}

    /// Adds an entry to `record.group`'s dead-letter queue (see ``addDeadLetters(_:)``); the
    /// store assigns the id.
    @discardableResult
    public func addDeadLetter(_ record: DeadLetterRecord, removingRetry: RetryID? = nil) throws(StorageError) -> UInt64 {
        try addDeadLetters([(record, removingRetry)])[0]
    }
}
