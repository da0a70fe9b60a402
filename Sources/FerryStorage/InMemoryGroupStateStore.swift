/// A ``GroupStateStore`` in memory: what a broker over an ``InMemoryEventLog`` uses. Saves
/// take effect at once; nothing survives a restart.
public final class InMemoryGroupStateStore: GroupStateStore {
    private var snapshot = GroupStateSnapshot()
    private var deadLetterQueues: [String: [DeadLetterRecord]] = [:]
    private var nextDeadLetterID: [String: UInt64] = [:]

    public init() {}

    public func save(_ changes: GroupStateChanges) throws(StorageError) { snapshot.apply(changes) }
    public var saveFailures: Int { 0 }
    public func load() throws(StorageError) -> GroupStateSnapshot { snapshot }
    /// Saves are as durable as they will ever be when made: nothing waits for a ticket.
    public var ticket: UInt64 { 0 }
    public var durableTicket: UInt64 { 0 }
    public var notificationDescriptor: Int32? { nil }
    public func collectNotifications() {}
    public func syncSoon() {}
    public var recoveryProblems: [String] { [] }
    public func close() {}
    public var closedWithUnsavedChanges: Bool { false }

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
        snapshot.apply(changes)
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
        snapshot.apply(changes)
        return removed
    }
}
