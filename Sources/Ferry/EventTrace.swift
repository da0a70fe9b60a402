import FerryProtocol

/// The recorded life of events: what the broker did with each (deliveries, outcomes, retries,
/// dead letters, requeues, replays) and which events each caused, from the broker's trace log.
public struct EventTrace: Sendable, Codable, Equatable {
    /// Which events a trace follows.
    public enum Selector: Sendable, Equatable {
        /// One event and what it caused, recursively.
        case event(id: String)
        /// Every event with this key (an order's, say) and what they caused.
        case key(String)
        /// Every event of a correlation id (a saga) and what they caused.
        case correlation(String)
    }

    /// One step of an event's life.
    public struct Step: Sendable, Codable, Equatable {
        public enum Kind: String, Sendable, Codable {
            case duplicate, delivered, acked, nacked, released
            case ackTimeout = "ack_timeout"
            case memberLost = "member_lost"
            case retryScheduled = "retry_scheduled"
            case deadLettered = "dead_lettered"
            case requeued, replayed, unknown
        }

        public var kind: Kind
        /// When the broker did it, microseconds since the Unix epoch.
        public var atMicros: Int64
        public var group: String
        /// The member (its name) for deliveries and their outcomes; who asked, for requeues and
        /// replays; the publisher, for duplicates.
        public var actor: String
        public var attempt: UInt32
        /// The handler's error, a dead letter's cause, why a member was lost.
        public var detail: String
        /// For a scheduled retry: when it is due, and the wait.
        public var dueAtMicros: Int64?
        public var delayMilliseconds: UInt64?
    }

    /// One event and its steps, in order.
    public struct Event: Sendable, Codable, Equatable {
        public var topic: String
        public var offset: UInt64
        public var id: String
        public var key: String
        public var type: String
        public var correlationID: String
        public var causationID: String
        public var publishedAtMicros: Int64
        public var publisher: String
        public var steps: [Step]
        /// The broker recorded more steps than a reply carries (1000).
        public var stepsTruncated: Bool
    }

    /// In publish order: a cause always comes before what it caused.
    public var events: [Event]
    /// How the broker samples: `all`, `failures`, `fraction:…` or `off`. With anything but
    /// `all`, events or steps may be missing.
    public var sampling: String
    /// More events matched than were fetched.
    public var truncated: Bool

    /// The events no other event of this trace caused, in publish order.
    public var roots: [Event] {
        let ids = Set(events.map(\.id))
        return events.filter { $0.causationID.isEmpty || !ids.contains($0.causationID) }
    }

    /// The events `event` caused, in publish order.
    public func children(of event: Event) -> [Event] {
        events.filter { $0.causationID == event.id && !event.id.isEmpty && $0 != event }
    }
}

extension EventTrace.Event {
    init(wire: TracedEvent) {
        topic = wire.topic
        offset = wire.offset
        id = wire.id
        key = wire.key
        type = wire.type
        correlationID = wire.correlationID
        causationID = wire.causationID
        publishedAtMicros = wire.publishedAtUs
        publisher = wire.publisher
        steps = wire.steps.map(EventTrace.Step.init(wire:))
        stepsTruncated = wire.stepsTruncated
    }
}

extension EventTrace.Step {
    init(wire: TraceStep) {
        kind =
            switch wire.kind {
            case .duplicate: .duplicate
            case .delivered: .delivered
            case .acked: .acked
            case .nacked: .nacked
            case .released: .released
            case .ackTimeout: .ackTimeout
            case .memberLost: .memberLost
            case .retryScheduled: .retryScheduled
            case .deadLettered: .deadLettered
            case .requeued: .requeued
            case .replayed: .replayed
            default: .unknown
            }
        atMicros = wire.atUs
        group = wire.group
        actor = wire.actor
        attempt = wire.attempt
        detail = wire.detail
        dueAtMicros = wire.kind == .retryScheduled ? wire.dueAtUs : nil
        delayMilliseconds = wire.kind == .retryScheduled ? wire.delayMs : nil
    }
}
