import FerryRuntime
import Foundation

/// The durable ``GroupStateStore``: group definitions, retries and dead letters in
/// `<directory>/groups.sqlite` (SQLite, WAL, `synchronous = FULL`), and the cursor moves made
/// between its saves in `<directory>/cursors.journal`.
///
/// Saves go to a ``StateWriter`` thread, in order, and become durable (``durableTicket``)
/// within `groupStateSyncMilliseconds`, or at once when ``syncSoon()`` asks; dead letters and
/// requeues are written and synced before they return.
public final class DurableGroupStateStore: GroupStateStore {
    public let configuration: DurableStoreConfiguration
    private let database: GroupStateDatabase
    private let stateWriter: StateWriter
    public private(set) var recoveryProblems: [String] = []
    private var closed = false
    /// Each group's dead-letter count once counted, then kept up to date by the adds and
    /// removals made here (the only writers of those rows): a metric reads it every second
    /// without a query.
    private var deadLetterCounts: [String: Int] = [:]

    /// Opens the store in the configuration's directory, creating it if needed; a damaged
    /// cursor journal is repaired and reported in ``recoveryProblems``.
    public init(configuration: DurableStoreConfiguration) throws(StorageError) {
        self.configuration = configuration
        let root = URL(fileURLWithPath: configuration.directory)
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw StorageError(.io, "cannot create the data directory \(root.path): \(error.localizedDescription)")
        }
        database = try GroupStateDatabase(path: root.appendingPathComponent("groups.sqlite").path)
        stateWriter = try StateWriter(
            database: database, journalPath: root.appendingPathComponent("cursors.journal").path,
            syncInterval: .milliseconds(max(1, configuration.groupStateSyncMilliseconds)))
        // The database's and the journal's entries (new on a first start) reach the disk before
        // anything in them is acknowledged.
        try SegmentFile.syncDirectory(root.path)
        if let problem = stateWriter.journalProblem { recoveryProblems.append(problem) }
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        stateWriter.stop()
        database.close()
    }

    public var saveFailures: Int { stateWriter.failureCount }

    public func save(_ changes: GroupStateChanges) throws(StorageError) {
        guard !changes.isEmpty else { return }
        try stateWriter.save(changes)
    }

    public var ticket: UInt64 { stateWriter.lastTicket }
    public var durableTicket: UInt64 { stateWriter.durableTicket }
    public var notificationDescriptor: Int32? { stateWriter.notifications.fileDescriptor }
    public func collectNotifications() { _ = stateWriter.notifications.drain() }
    public func syncSoon() { stateWriter.syncSoon() }

    public func load() throws(StorageError) -> GroupStateSnapshot {
        stateWriter.flush()
        return try database.load()
    }

    @discardableResult
    public func addDeadLetters(_ entries: [(record: DeadLetterRecord, removingRetry: RetryID?)]) throws(StorageError) -> [UInt64] {
        // A queued save may still hold the row this removes (a retry rescheduled, its save
        // failing): it lands first, or it would bring the row back. A queued save may also
        // define an entry's group: it lands first, or a power cut could keep a dead letter of a
        // group the database does not know (every commit is synced, in order). Saves of other
        // groups do not hold the broker here.
        if stateWriter.hasQueuedDefinition(ofAny: Set(entries.map(\.record.group))) || entries.contains(where: { $0.removingRetry != nil })
        {
            try landQueuedSaves(before: "dead-letter")
        }
        let ids = try database.addDeadLetters(entries)
        for entry in entries where deadLetterCounts[entry.record.group] != nil { deadLetterCounts[entry.record.group]! += 1 }
        return ids
    }

    public func deadLetters(group: String, after afterID: UInt64, limit: Int) -> [DeadLetterRecord] {
        database.deadLetters(group: group, after: afterID, limit: limit)
    }

    public func deadLetteredOffsets(group: String, topic: String) -> Set<UInt64> {
        database.deadLetteredOffsets(group: group, topic: topic)
    }

    public func deadLetterBodies(group: String, topic: String, offset: UInt64) -> [[UInt8]] {
        database.deadLetterBodies(group: group, topic: topic, offset: offset)
    }

    public func deadLetterCount(group: String) -> Int {
        if let count = deadLetterCounts[group] { return count }
        let count = database.deadLetterCount(group: group)
        deadLetterCounts[group] = count
        return count
    }

    /// Takes `removed` entries off `group`'s kept count.
    private func forget(_ removed: [DeadLetterRecord], of group: String) -> [DeadLetterRecord] {
        if let count = deadLetterCounts[group] { deadLetterCounts[group] = max(0, count - removed.count) }
        return removed
    }

    public func deadLetterIDs(group: String, limit: Int) -> [UInt64] { database.deadLetterIDs(group: group, limit: limit) }

    public func removeDeadLetters(group: String, ids: [UInt64]?) throws(StorageError) -> [DeadLetterRecord] {
        forget(try database.removeDeadLetters(group: group, ids: ids), of: group)
    }

    public func requeueDeadLetters(
        group: String, ids: [UInt64]?, as retry: (DeadLetterRecord) -> RetryState
    ) throws(StorageError) -> [DeadLetterRecord] {
        // No queued save may land after these rows.
        try landQueuedSaves(before: "requeue")
        return forget(try database.removeDeadLetters(group: group, ids: ids, requeueingAs: retry), of: group)
    }

    /// Returns once every save queued so far is in the database (one that failed is tried
    /// again now), for a write that goes to the database directly and must come after them;
    /// throws while saves still fail.
    private func landQueuedSaves(before operation: String) throws(StorageError) {
        stateWriter.flush()
        if let failure = stateWriter.failure {
            throw StorageError(failure.code, "group state cannot be saved right now (\(failure.message)); \(operation) again once it can")
        }
    }

    /// Makes the next `count` saves of group state fail, as a transiently failing disk would;
    /// 0 ends the failures (for tests).
    func injectGroupStateSaveFailures(_ count: Int) {
        database.injectSaveFailures(count)
    }

    /// Injected save failures not yet taken (for tests).
    var injectedGroupStateSaveFailuresLeft: Int { database.injectedSaveFailuresLeft }

    /// The error of a group-state save that is still being retried (for tests).
    var groupStateSaveFailure: StorageError? { stateWriter.failure }

    public var closedWithUnsavedChanges: Bool { stateWriter.stoppedWithUnsavedChanges }
}
