/// A consumer group's definition, as the broker persists it.
public struct GroupDefinition: Sendable, Equatable {
    public var name: String
    public var patterns: [String]
    /// The group's retry policy, encoded by the broker (opaque here).
    public var policy: String
    public var startAtLatest: Bool

    public init(name: String, patterns: [String], policy: String, startAtLatest: Bool) {
        self.name = name
        self.patterns = patterns
        self.policy = policy
        self.startAtLatest = startAtLatest
    }
}

/// An offset delivered and not yet settled, with the attempt it was delivered as.
public struct PendingOffset: Sendable, Equatable {
    public var offset: UInt64
    public var attempt: UInt32

    public init(offset: UInt64, attempt: UInt32) {
        self.offset = offset
        self.attempt = attempt
    }
}

/// A group's position in one topic: every offset below `next` is settled except `inFlight`
/// and the offsets with a scheduled retry.
public struct CursorState: Sendable, Equatable {
    public var group: String
    public var topic: String
    public var next: UInt64
    public var inFlight: [PendingOffset]

    public init(group: String, topic: String, next: UInt64, inFlight: [PendingOffset]) {
        self.group = group
        self.topic = topic
        self.next = next
        self.inFlight = inFlight
    }

    /// Every offset below this is settled.
    public var settledBelow: UInt64 { inFlight.map(\.offset).min() ?? next }
}

/// Where a scheduled redelivery came from, which decides what keeps it across a restart and
/// what its settlement settles.
public enum RetryOrigin: Sendable, Hashable {
    /// A delivery of an event its group's cursor still holds (failed, timed out, released, or
    /// left by a member that went away): the cursor counts the offset as outstanding, the log
    /// keeps the event, and an ack settles the cursor.
    case cursor
    /// A dead letter an operator requeued: its offset was committed long ago, so the retry's
    /// saved row, with its own copy of the event, is all that keeps it; an ack removes the row.
    case requeuedDeadLetter
}

/// A scheduled redelivery.
public struct RetryState: Sendable, Equatable {
    public var group: String
    public var topic: String
    public var offset: UInt64
    /// Whether its cursor holds the offset, or it is a requeued dead letter.
    public var origin: RetryOrigin
    /// The attempt number the redelivery will carry.
    public var attempt: UInt32
    /// When it is due, wall-clock microseconds since the Unix epoch.
    public var dueMicros: Int64
    public var lastError: String
    public var key: String
    /// The stored envelope, kept only by a requeued dead letter: the log may no longer hold it (retention), while the dead-letter queue did.
    public var body: [UInt8]?

    public init(
        group: String, topic: String, offset: UInt64, origin: RetryOrigin, attempt: UInt32, dueMicros: Int64, lastError: String, key: String,
        body: [UInt8]? = nil
    ) {
        self.group = group
        self.topic = topic
        self.offset = offset
        self.origin = origin
        self.attempt = attempt
        self.dueMicros = dueMicros
        self.lastError = lastError
        self.key = key
        self.body = body
    }

    public var id: RetryID { RetryID(group: group, topic: topic, offset: offset, origin: origin) }
}

/// Names a scheduled redelivery.
public struct RetryID: Sendable, Hashable {
    public var group: String
    public var topic: String
    public var offset: UInt64
    public var origin: RetryOrigin

    public init(group: String, topic: String, offset: UInt64, origin: RetryOrigin) {
        self.group = group
        self.topic = topic
        self.offset = offset
        self.origin = origin
    }
}

/// What changed in the groups' state since the last save; saved atomically.
public struct GroupStateChanges: Sendable {
    /// A retry scheduled (or rescheduled: the same ``RetryID`` replaces the earlier one), or
    /// removed (dispatched, settled, dropped).
    public enum RetryChange: Sendable, Equatable {
        case added(RetryState)
        case removed(RetryID)
    }

    public var groups: [GroupDefinition] = []
    public var cursors: [CursorState] = []
    /// Retry changes in the order they happened, and applied in that order: a retry scheduled
    /// and dispatched between two saves is gone after the save, one dispatched and scheduled
    /// again is kept.
    public var retryChanges: [RetryChange] = []

    public init() {}

    public mutating func addRetry(_ retry: RetryState) { retryChanges.append(.added(retry)) }
    public mutating func removeRetry(_ id: RetryID) { retryChanges.append(.removed(id)) }

    public var isEmpty: Bool { groups.isEmpty && cursors.isEmpty && retryChanges.isEmpty }

    /// Whether only cursors changed (the common save under load: acks moving them).
    var changesOnlyCursors: Bool { groups.isEmpty && retryChanges.isEmpty }
}

/// Everything a restarted broker needs to resume its groups.
public struct GroupStateSnapshot: Sendable {
    public var groups: [GroupDefinition] = []
    public var cursors: [CursorState] = []
    public var retries: [RetryState] = []

    public init() {}
}

extension GroupStateSnapshot {
    /// Applies saved changes, as a store without a database keeps its state.
    mutating func apply(_ changes: GroupStateChanges) {
        for group in changes.groups {
            if let index = groups.firstIndex(where: { $0.name == group.name }) { groups[index] = group } else { groups.append(group) }
        }
        for cursor in changes.cursors {
            if let index = cursors.firstIndex(where: { $0.group == cursor.group && $0.topic == cursor.topic }) {
                cursors[index] = cursor
            } else {
                cursors.append(cursor)
            }
        }
        // The last change of each retry decides; applied in one pass over the retries.
        var last: [RetryID: RetryState?] = [:]
        var added: [RetryID] = []
        for change in changes.retryChanges {
            switch change {
            case .added(let retry):
                last[retry.id] = .some(retry)
                added.append(retry.id)
            case .removed(let id):
                last[id] = .some(nil)
            }
        }
        guard !last.isEmpty else { return }
        retries.removeAll { last[$0.id] != nil }
        // In the order of each retry's last addition.
        var seen = Set<RetryID>()
        let order = added.reversed().filter { seen.insert($0).inserted }.reversed()
        for id in order {
            if case .some(.some(let retry)) = last[id] { retries.append(retry) }
        }
    }
}
