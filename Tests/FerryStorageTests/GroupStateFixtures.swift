import FerryStorage
import Testing

/// Two saves of group state (the second replaces and removes parts of the first) and what
/// loading must return after each, shared by the in-memory and durable tests.
enum GroupStateFixture {
    static let bigOffset: UInt64 = (1 << 63) + 5

    static var first: GroupStateChanges {
        var changes = GroupStateChanges()
        changes.groups = [
            GroupDefinition(name: "billing", patterns: ["orders.*", "refunds.created"], policy: "{\"max\":5}", startAtLatest: false),
            GroupDefinition(name: "audit", patterns: ["#"], policy: "", startAtLatest: true),
        ]
        changes.cursors = [
            CursorState(
                group: "billing", topic: "orders.created", next: 10,
                inFlight: [PendingOffset(offset: 7, attempt: 2), PendingOffset(offset: 9, attempt: 1)]),
            CursorState(group: "billing", topic: "refunds.created", next: 3, inFlight: []),
            CursorState(
                group: "audit", topic: "orders.created", next: bigOffset, inFlight: [PendingOffset(offset: bigOffset - 1, attempt: .max)]),
        ]
        for retry in firstRetries { changes.addRetry(retry) }
        return changes
    }

    static var second: GroupStateChanges {
        var changes = GroupStateChanges()
        changes.groups = [GroupDefinition(name: "billing", patterns: ["orders.*"], policy: "{\"max\":7}", startAtLatest: true)]
        changes.cursors = [
            CursorState(group: "billing", topic: "orders.created", next: 12, inFlight: [PendingOffset(offset: 11, attempt: 1)])
        ]
        changes.removeRetry(RetryID(group: "billing", topic: "orders.created", offset: 8, origin: .cursor))
        // Same offset but the other kind: must not match the requeued retry at 4.
        changes.removeRetry(RetryID(group: "billing", topic: "orders.created", offset: 4, origin: .cursor))
        changes.removeRetry(RetryID(group: "nobody", topic: "nothing", offset: 0, origin: .cursor))
        changes.addRetry(secondRetry)
        return changes
    }

    static let firstRetries = [
        retry("billing", "orders.created", 8, attempt: 3, error: "timeout"),
        retry("billing", "orders.created", 4, origin: .requeuedDeadLetter, attempt: 1, error: "requeued", body: [0, 1, 2, 255]),
        retry("audit", "orders.created", 1, attempt: 2, error: "ünïcode ✓"),
    ]
    static let secondRetry = retry("audit", "orders.created", 1, attempt: 3, error: "again")

    static var afterFirst: GroupStateSnapshot {
        var snapshot = GroupStateSnapshot()
        let changes = first
        snapshot.groups = changes.groups
        snapshot.cursors = changes.cursors
        snapshot.retries = firstRetries
        return snapshot
    }

    static var afterSecond: GroupStateSnapshot {
        var snapshot = GroupStateSnapshot()
        snapshot.groups = [
            GroupDefinition(name: "billing", patterns: ["orders.*"], policy: "{\"max\":7}", startAtLatest: true),
            first.groups[1],
        ]
        snapshot.cursors = [second.cursors[0], first.cursors[1], first.cursors[2]]
        snapshot.retries = [firstRetries[1], secondRetry]
        return snapshot
    }

    static func retry(
        _ group: String, _ topic: String, _ offset: UInt64, origin: RetryOrigin = .cursor, attempt: UInt32, error: String, body: [UInt8]? = nil
    ) -> RetryState {
        RetryState(
            group: group, topic: topic, offset: offset, origin: origin, attempt: attempt,
            dueMicros: 1_700_000_000_000_000 + Int64(offset),
            lastError: error, key: "key-\(offset)", body: body)
    }
}

/// Compares snapshots ignoring the order of their rows.
func expectSameState(_ actual: GroupStateSnapshot, _ expected: GroupStateSnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.groups.sorted { $0.name < $1.name } == expected.groups.sorted { $0.name < $1.name }, sourceLocation: sourceLocation)
    let cursorOrder: (CursorState, CursorState) -> Bool = { ($0.group, $0.topic) < ($1.group, $1.topic) }
    #expect(actual.cursors.sorted(by: cursorOrder) == expected.cursors.sorted(by: cursorOrder), sourceLocation: sourceLocation)
    let retryOrder: (RetryState, RetryState) -> Bool = {
        ($0.group, $0.topic, $0.offset, $0.origin == .cursor ? 1 : 0) < ($1.group, $1.topic, $1.offset, $1.origin == .cursor ? 1 : 0)
    }
    #expect(actual.retries.sorted(by: retryOrder) == expected.retries.sorted(by: retryOrder), sourceLocation: sourceLocation)
}

/// A dead-letter record for `group`; the store replaces `id`.
func deadLetter(_ group: String, offset: UInt64, id: UInt64 = 999) -> DeadLetterRecord {
    DeadLetterRecord(
        id: id, group: group, topic: "orders.created", offset: offset, cause: offset % 2 == 0 ? .maxAttempts : .rejected,
        attempts: UInt32(offset + 1), lastError: "error \(offset)", deadLetteredAtMicros: Int64(offset) * 10,
        body: [UInt8(truncatingIfNeeded: offset), 0xAB])
}

extension GroupStateFixture {
    /// A retry scheduled and dispatched before a save is gone after it (a row left behind would
    /// redeliver an acked event after a restart); one dispatched and scheduled again is kept,
    /// with its latest attempt.
    static func checkRetryChangesInOrder(_ store: any GroupStateStore) throws {
        let retry = retry("g", "t", 5, attempt: 2, error: "x")
        var addedThenRemoved = GroupStateChanges()
        addedThenRemoved.addRetry(retry)
        addedThenRemoved.removeRetry(retry.id)
        try store.save(addedThenRemoved)
        #expect(try store.load().retries.isEmpty)

        let again = Self.retry("g", "t", 5, attempt: 3, error: "y")
        var removedThenAdded = GroupStateChanges()
        removedThenAdded.addRetry(retry)
        removedThenAdded.removeRetry(retry.id)
        removedThenAdded.addRetry(again)
        try store.save(removedThenAdded)
        #expect(try store.load().retries == [again])

        var remove = GroupStateChanges()
        remove.removeRetry(retry.id)
        try store.save(remove)
        #expect(try store.load().retries.isEmpty)
    }
}

extension GroupStateFixture {
    /// A requeued dead letter that fails again: its retry row goes in the step that adds the
    /// new entry, so a crash cannot leave both (redelivered and dead-lettered).
    static func checkDeadLetterReplacesRetry(_ store: any GroupStateStore) throws {
        let requeued = retry("g", "t", 7, origin: .requeuedDeadLetter, attempt: 1, error: "requeued")
        var changes = GroupStateChanges()
        changes.addRetry(requeued)
        try store.save(changes)
        #expect(try store.load().retries == [requeued])
        let record = DeadLetterRecord(
            id: 0, group: "g", topic: "t", offset: 7, cause: .maxAttempts, attempts: 1, lastError: "again", deadLetteredAtMicros: 1,
            body: [1, 2, 3])
        #expect(try store.addDeadLetter(record, removingRetry: requeued.id) == 1)
        #expect(try store.load().retries.isEmpty)
        #expect(store.deadLetters(group: "g", after: 0, limit: 10).map(\.offset) == [7])

        // A save interval's dead letters, several groups, in one step.
        var other = record
        other.group = "h"
        var later = record
        later.offset = 8
        #expect(try store.addDeadLetters([(later, nil), (other, nil), (later, nil)]) == [2, 1, 3])
        #expect(store.deadLetters(group: "g", after: 0, limit: 10).map(\.id) == [1, 2, 3])
        #expect(store.deadLetterCount(group: "h") == 1)
    }
}
