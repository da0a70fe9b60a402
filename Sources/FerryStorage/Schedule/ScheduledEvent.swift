/// An event published for later: stored by the ``Scheduler`` until it is due, then appended to
/// its topic like any publish.
public struct ScheduledEvent: Sendable, Equatable {
    /// The schedule's own order: among events due at the same microsecond, the one scheduled
    /// first is appended first.
    public var sequence: Int64
    public var topic: String
    public var id: String
    public var key: String
    /// When it is due, in wall-clock microseconds since 1970.
    public var dueMicros: Int64
    /// The event's serialized bytes as they will be stored (without `stored_at_us`, which is
    /// set when it is appended).
    public var body: [UInt8]

    public init(sequence: Int64 = 0, topic: String, id: String, key: String, dueMicros: Int64, body: [UInt8]) {
        self.sequence = sequence
        self.topic = topic
        self.id = id
        self.key = key
        self.dueMicros = dueMicros
        self.body = body
    }

    /// Where it stands in the order events are handed over: by due time, then sequence.
    public var position: SchedulePosition { SchedulePosition(dueMicros: dueMicros, sequence: sequence) }
}

/// A point in the order scheduled events are handed over (due time, then sequence).
public struct SchedulePosition: Sendable, Comparable, Hashable {
    public var dueMicros: Int64
    public var sequence: Int64

    public init(dueMicros: Int64, sequence: Int64) {
        self.dueMicros = dueMicros
        self.sequence = sequence
    }

    /// Before every event.
    public static let start = SchedulePosition(dueMicros: .min, sequence: .min)

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.dueMicros, lhs.sequence) < (rhs.dueMicros, rhs.sequence)
    }
}

/// What became of one event handed to ``Scheduler/schedule(_:ticket:)``.
public enum ScheduleOutcome: Sendable, Equatable {
    /// Stored durably; it will be appended at `dueMicros`.
    case scheduled(dueMicros: Int64)
    /// An event with the same topic and id was scheduled before: this one is the same event,
    /// due when the first is.
    case duplicate(dueMicros: Int64)
    /// Not stored: the schedule is full (its limits) or the disk failed.
    case refused(StorageError)
}

/// What became of a cancellation.
public enum CancelOutcome: Sendable, Equatable {
    /// Removed before it was due: no group will receive it.
    case cancelled(dueMicros: Int64)
    /// No scheduled event has that topic and id (never scheduled, cancelled before, or appended).
    case notScheduled
    /// It is due and being appended: too late to cancel.
    case alreadyDue(dueMicros: Int64)
    /// The store failed; nothing was removed.
    case failed(StorageError)
}

/// How many events wait, per topic and in all, and the earliest due time.
public struct ScheduleSummary: Sendable, Equatable {
    public var events = 0
    public var bytes = 0
    public var byTopic: [String: Int] = [:]
    /// The earliest due time among the events not yet handed over; nil when none waits.
    public var nextDueMicros: Int64?

    public init() {}
}

/// The most a schedule holds: past them, scheduling is refused with ``StorageError/Code/full``.
public struct ScheduleLimits: Sendable, Equatable {
    public var maxEvents: Int
    public var maxBytes: Int

    public init(maxEvents: Int = 10_000_000, maxBytes: Int = 4 << 30) {
        self.maxEvents = maxEvents
        self.maxBytes = maxBytes
    }
}
