/// An event to append: the serialized envelope plus what the store indexes.
public struct NewEvent: Sendable {
    /// The event's key, for history queries; empty when it has none.
    public var key: String
    /// When the broker accepted it, microseconds since the Unix epoch.
    public var timestampMicros: Int64
    /// The serialized event envelope, opaque to the store.
    public var body: [UInt8]
    /// The event's id, kept beside the body so the dedup window can be rebuilt on restart.
    public var id: String

    public init(key: String, timestampMicros: Int64, body: [UInt8], id: String = "") {
        self.key = key
        self.timestampMicros = timestampMicros
        self.body = body
        self.id = id
    }
}

/// An event read back from a topic.
public struct StoredEvent: Sendable {
    /// Position in its topic: 0 for the first event ever appended, then +1 per event.
    public var offset: UInt64
    public var key: String
    public var timestampMicros: Int64
    public var body: [UInt8]

    public init(offset: UInt64, key: String, timestampMicros: Int64, body: [UInt8]) {
        self.offset = offset
        self.key = key
        self.timestampMicros = timestampMicros
        self.body = body
    }
}

/// Why an event was dead-lettered.
public enum DeadLetterCause: UInt8, Sendable {
    /// Its group's last allowed attempt failed.
    case maxAttempts = 1
    /// A handler declared it can never succeed (a poison event).
    case rejected = 2
}

/// One entry of a group's dead-letter queue.
public struct DeadLetterRecord: Sendable {
    /// Per-group id, increasing.
    public var id: UInt64
    public var group: String
    public var topic: String
    public var offset: UInt64
    public var cause: DeadLetterCause
    public var attempts: UInt32
    public var lastError: String
    public var deadLetteredAtMicros: Int64
    /// The serialized event envelope, kept so the entry survives the event's release from its topic.
    public var body: [UInt8]

    public init(
        id: UInt64, group: String, topic: String, offset: UInt64, cause: DeadLetterCause, attempts: UInt32,
        lastError: String, deadLetteredAtMicros: Int64, body: [UInt8]
    ) {
        self.id = id
        self.group = group
        self.topic = topic
        self.offset = offset
        self.cause = cause
        self.attempts = attempts
        self.lastError = lastError
        self.deadLetteredAtMicros = deadLetteredAtMicros
        self.body = body
    }
}
