/// One thing the broker did with an event, as the trace log keeps it.
///
/// A record names its event by topic and offset; only a `published` record carries the event's
/// id, key, type and chain ids, which the others are found by.
public struct TraceRecord: Sendable, Equatable {
    /// What happened. The raw values are stored: never renumber them.
    public enum Kind: UInt8, Sendable {
        /// Stored and confirmed. `actor`: the publisher.
        case published = 1
        /// A publish of the same id was confirmed as this event. `actor`: the publisher.
        case duplicate = 2
        /// Sent to a member of `group` (`actor`) as `attempt`.
        case delivered = 3
        case acked = 4
        /// `detail`: the handler's error.
        case nacked = 5
        case released = 6
        case ackTimeout = 7
        /// The member's session ended with the delivery unsettled. `detail`: why.
        case memberLost = 8
        /// `attempt`: the next attempt; `number`: when it is due (µs since the epoch);
        /// `detail`: unused.
        case retryScheduled = 9
        /// `detail`: the cause and the last error; `attempt`: attempts made.
        case deadLettered = 10
        /// Out of the dead-letter queue for redelivery. `actor`: who asked.
        case requeued = 11
        /// The group's cursor on `topic` moved from `number` back to `offset`: events in
        /// between are delivered again. `actor`: who asked.
        case replayed = 12
    }

    public var kind: Kind
    /// When it happened, microseconds since the Unix epoch.
    public var timeMicros: Int64
    public var topic: String
    public var offset: UInt64
    public var group: String
    public var actor: String
    public var attempt: UInt32
    public var number: Int64
    public var detail: String
    /// The event's own fields, in `published` records only. Boxed, so that the records the
    /// broker's hot path copies stay small.
    public var event: EventFields? {
        get { eventBox?.fields }
        set { eventBox = newValue.map(EventBox.init) }
    }
    private var eventBox: EventBox?
    /// The event as stored, in a `published` record whose ``event`` is still to be read: the
    /// writer thread reads it (``TraceLog``'s `readEnvelope`), so that the broker thread only
    /// hands over the bytes it stored anyway. Never written to the trace log.
    public var envelope: [UInt8]?

    public var eventID: String { event?.eventID ?? "" }
    public var key: String { event?.key ?? "" }
    public var correlationID: String { event?.correlationID ?? "" }
    public var causationID: String { event?.causationID ?? "" }
    public var type: String { event?.type ?? "" }

    public init(
        kind: Kind, timeMicros: Int64, topic: String, offset: UInt64, group: String = "", actor: String = "", attempt: UInt32 = 0,
        number: Int64 = 0, detail: String = "", event: EventFields? = nil
    ) {
        self.kind = kind
        self.timeMicros = timeMicros
        self.topic = topic
        self.offset = offset
        self.group = group
        self.actor = actor
        self.attempt = attempt
        self.number = number
        self.detail = detail
        self.eventBox = event.map(EventBox.init)
        self.envelope = nil
    }

    public static func == (lhs: TraceRecord, rhs: TraceRecord) -> Bool {
        lhs.kind == rhs.kind && lhs.timeMicros == rhs.timeMicros && lhs.topic == rhs.topic && lhs.offset == rhs.offset
            && lhs.group == rhs.group && lhs.actor == rhs.actor && lhs.attempt == rhs.attempt && lhs.number == rhs.number
            && lhs.detail == rhs.detail && lhs.event == rhs.event && lhs.envelope == rhs.envelope
    }

    private final class EventBox: Sendable {
        let fields: EventFields
        init(_ fields: EventFields) { self.fields = fields }
    }

    /// A `published` record whose event fields the writer reads from `envelope`.
    public static func published(timeMicros: Int64, topic: String, offset: UInt64, publisher: String, envelope: [UInt8]) -> TraceRecord {
        var record = TraceRecord(kind: .published, timeMicros: timeMicros, topic: topic, offset: offset, actor: publisher)
        record.envelope = envelope
        return record
    }

    /// Where a stored envelope holds the fields a `published` record keeps (byte ranges of
    /// UTF-8; empty when absent): the writer copies them from the envelope into the trace log.
    public struct EnvelopeLayout: Sendable {
        public var eventID = 0..<0
        public var key = 0..<0
        public var correlationID = 0..<0
        public var causationID = 0..<0
        public var type = 0..<0

        public init() {}
    }

    /// The fields a `published` record keeps of its event.
    public struct EventFields: Sendable, Equatable {
        public var eventID: String
        public var key: String
        public var correlationID: String
        public var causationID: String
        public var type: String

        public init(eventID: String = "", key: String = "", correlationID: String = "", causationID: String = "", type: String = "") {
            self.eventID = eventID
            self.key = key
            self.correlationID = correlationID
            self.causationID = causationID
            self.type = type
        }
    }
}
