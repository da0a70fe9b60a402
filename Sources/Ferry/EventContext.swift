/// What a handler knows about the delivery it is handling, and how it publishes follow-ups.
public struct EventContext: Sendable {
    /// The event as received (headers, raw payload, timestamps).
    public let event: ReceivedEvent
    /// 1 for the first delivery, 2 for the first retry, …
    public let attempt: UInt32
    /// The event's offset in its topic.
    public let offset: UInt64
    /// The error of the previous failed attempt, if any.
    public let lastError: String?
    /// The consumer group this delivery belongs to.
    public let group: String
    let bus: EventBus

    public var eventID: String { event.id }
    public var key: String? { event.key }
    /// Shared by every event of one chain; the first event's id.
    public var correlationID: String { event.correlationID ?? event.id }
    /// The id of the event that caused this one.
    public var causationID: String? { event.causationID }

    /// Publishes an event caused by this one: it inherits the correlation id, and its
    /// causation id is this event's id.
    @discardableResult
    public func publish<E: EventRepresentable>(
        _ followUp: E, id: String? = nil, key: String? = nil, headers: [String: String] = [:], schedule: PublishSchedule? = nil
    ) async throws(FerryError) -> PublishReceipt {
        try await bus.publish(
            followUp, id: id ?? "\(event.id)/\(E.typeName)", key: key, headers: headers, correlationID: correlationID,
            causationID: event.id, schedule: schedule)
    }

    /// Removes a scheduled event before it is due (see ``EventBus/cancelScheduled(topic:id:)``).
    @discardableResult
    public func cancelScheduled(topic: String, id: String) async throws(FerryError) -> ScheduledCancellation {
        try await bus.cancelScheduled(topic: topic, id: id)
    }
}
