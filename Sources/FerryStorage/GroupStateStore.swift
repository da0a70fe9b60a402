/// Where the broker keeps consumer-group state: definitions, cursors, pending retries and
/// dead letters.
///
/// Each group has a committed cursor per topic (every offset below it is settled), the offsets
/// in flight above it, its scheduled retries and a dead-letter queue. A store is owned by the
/// broker's loop thread. Implementations: ``DurableGroupStateStore`` (SQLite and a cursor
/// journal, synced before what it promises is acknowledged) and ``InMemoryGroupStateStore``.
/// The same contract suite runs against both.
public protocol GroupStateStore: AnyObject {
    /// Saves group definitions, cursors and retries atomically, in the order of the calls. A
    /// store may save in the background: it then takes the changes even when it throws, retries
    /// a failed save itself (in order, before later ones), and throws the error of an earlier
    /// save that is still failing. The caller never passes the same changes again.
    func save(_ changes: GroupStateChanges) throws(StorageError)
    /// Saves that failed so far, each retried (for a metric): a store saving in the background
    /// counts failures no caller saw.
    var saveFailures: Int { get }
    /// The saved group state.
    func load() throws(StorageError) -> GroupStateSnapshot
    /// Identifies the saves made so far: once ``durableTicket`` reaches it, they survive a
    /// power cut.
    var ticket: UInt64 { get }
    /// The last ticket whose save, and every one before it, is on disk through a power cut.
    var durableTicket: UInt64 { get }
    /// A descriptor that becomes readable when ``durableTicket`` moved (nil: saves are durable,
    /// or not, as they are made, and nothing waits).
    var notificationDescriptor: Int32? { get }
    /// Takes what made ``notificationDescriptor`` readable.
    func collectNotifications()
    /// Asks for the saves made so far to become durable now, not at the end of the interval
    /// that bounds cursor syncs.
    func syncSoon()
    /// What opening the store found and repaired (a damaged cursor journal, …).
    var recoveryProblems: [String] { get }
    /// Ends background work, saving what is queued.
    func close()
    /// Whether closing left changes unsaved (the disk kept failing): acks since the last good
    /// save are redelivered after a restart.
    var closedWithUnsavedChanges: Bool { get }

    /// Adds entries to their groups' dead-letter queues in one step, on disk when this returns
    /// (a cursor saved later settles the events), each removing the saved retry `removingRetry`
    /// (a requeued dead letter failing again), after every save made before. The store assigns
    /// the ids, returned in order.
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
    /// Removes the entries with `ids` (every entry when `ids` is nil) and returns them, by id.
    func removeDeadLetters(group: String, ids: [UInt64]?) throws(StorageError) -> [DeadLetterRecord]
    /// Moves the entries with `ids` (every entry when `ids` is nil) into the saved retries, each
    /// as `retry` makes it, in one atomic step after the saves made so far, and returns them: a
    /// crash leaves every entry either a dead letter or a retry. Returned by id.
    func requeueDeadLetters(
        group: String, ids: [UInt64]?, as retry: (DeadLetterRecord) -> RetryState
    ) throws(StorageError) -> [DeadLetterRecord]
}

extension GroupStateStore {
    /// Adds an entry to `record.group`'s dead-letter queue (see ``addDeadLetters(_:)``); the
    /// store assigns the id.
    @discardableResult
    public func addDeadLetter(_ record: DeadLetterRecord, removingRetry: RetryID? = nil) throws(StorageError) -> UInt64 {
        try addDeadLetters([(record, removingRetry)])[0]
    }
}
