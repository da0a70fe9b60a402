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
        changes.retriesAdded = [
            retry("billing", "orders.created", 8, attempt: 3, error: "timeout"),
            retry("billing", "orders.created", 4, tracks: false, attempt: 1, error: "requeued"),
            retry("audit", "orders.created", 1, attempt: 2, error: "ünïcode ✓"),
        ]
        return changes
    }

    static var second: GroupStateChanges {
        var changes = GroupStateChanges()
        changes.groups = [GroupDefinition(name: "billing", patterns: ["orders.*"], policy: "{\"max\":7}", startAtLatest: true)]
        changes.cursors = [
            CursorState(group: "billing", topic: "orders.created", next: 12, inFlight: [PendingOffset(offset: 11, attempt: 1)])
        ]
        changes.retriesRemoved = [
            RetryID(group: "billing", topic: "orders.created", offset: 8, tracksCursor: true),
            // Same offset but the other kind: must not match the requeued retry at 4.
            RetryID(group: "billing", topic: "orders.created", offset: 4, tracksCursor: true),
            RetryID(group: "nobody", topic: "nothing", offset: 0, tracksCursor: true),
        ]
        changes.retriesAdded = [retry("audit", "orders.created", 1, attempt: 3, error: "again")]
        return changes
    }

    static var afterFirst: GroupStateSnapshot {
        var snapshot = GroupStateSnapshot()
        let changes = first
        snapshot.groups = changes.groups
        snapshot.cursors = changes.cursors
        snapshot.retries = changes.retriesAdded
        return snapshot
    }

    static var afterSecond: GroupStateSnapshot {
        var snapshot = GroupStateSnapshot()
        snapshot.groups = [
            GroupDefinition(name: "billing", patterns: ["orders.*"], policy: "{\"max\":7}", startAtLatest: true),
            first.groups[1],
        ]
        snapshot.cursors = [second.cursors[0], first.cursors[1], first.cursors[2]]
        snapshot.retries = [first.retriesAdded[1], second.retriesAdded[0]]
        return snapshot
    }

    static func retry(_ group: String, _ topic: String, _ offset: UInt64, tracks: Bool = true, attempt: UInt32, error: String) -> RetryState
    {
        RetryState(
            group: group, topic: topic, offset: offset, tracksCursor: tracks, attempt: attempt,
            dueMicros: 1_700_000_000_000_000 + Int64(offset),
            lastError: error, key: "key-\(offset)")
    }
}

/// Compares snapshots ignoring the order of their rows.
func expectSameState(_ actual: GroupStateSnapshot, _ expected: GroupStateSnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.groups.sorted { $0.name < $1.name } == expected.groups.sorted { $0.name < $1.name }, sourceLocation: sourceLocation)
    let cursorOrder: (CursorState, CursorState) -> Bool = { ($0.group, $0.topic) < ($1.group, $1.topic) }
    #expect(actual.cursors.sorted(by: cursorOrder) == expected.cursors.sorted(by: cursorOrder), sourceLocation: sourceLocation)
    let retryOrder: (RetryState, RetryState) -> Bool = {
        ($0.group, $0.topic, $0.offset, $0.tracksCursor ? 1 : 0) < ($1.group, $1.topic, $1.offset, $1.tracksCursor ? 1 : 0)
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
