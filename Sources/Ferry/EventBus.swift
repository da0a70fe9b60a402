import FerryProtocol
public import Foundation
public import Logging
import Tracing

/// Publishes events to ferryd and administers it: the sending side of Ferry.
///
/// ```swift
/// let bus = try EventBus(configuration: .init(endpoint: "tcp://127.0.0.1:7400"))
/// try await bus.publish(OrderCreated(orderID: "42", total: 99))
/// ```
/// `publish` returns once ferryd has stored the event. Many tasks may publish at once; their
/// events travel to ferryd in shared batches.
public final class EventBus: Sendable {
    let connection: Connection
    private let ownsConnection: Bool

    /// Connects to ferryd. The connection is made in the background (its thread is started,
    /// never waited for, so this is safe to call from async code): a broker that is down shows up
    /// as ``FerryError/Code/timeout`` on the first request, an endpoint ZeroMQ refuses as
    /// ``FerryError/Code/transport``. It throws nothing today; `throws` stays for source
    /// compatibility.
    public init(configuration: ClientConfiguration = ClientConfiguration(), logger: Logger = Logger(label: "ferry.bus")) throws(FerryError)
    {
        self.connection = Connection(configuration: configuration, logger: logger)
        self.ownsConnection = true
    }

    init(connection: Connection) {
        self.connection = connection
        self.ownsConnection = false
    }

    /// Publishes one event and waits until ferryd stored it.
    ///
    /// - Parameters:
    ///   - id: the event's unique id; republishing the same id within ferryd's dedup window
    ///     is confirmed without storing it twice.
    ///   - key: overrides the event's ``Event/eventKey``.
    @discardableResult
    public func publish<E: EventRepresentable>(
        _ event: E, id: String = UUID().uuidString, key: String? = nil, headers: [String: String] = [:]
    ) async throws(FerryError) -> PublishReceipt {
        try await publish(event, id: id, key: key, headers: headers, correlationID: nil, causationID: nil)
    }

    /// Publishes one event to be appended at `date` (``PublishSchedule/at(_:)``): ferryd stores
    /// it durably and confirms it at once, and no group receives it before then. Cancel it with
    /// ``cancelScheduled(topic:id:)``; republishing the same id confirms the same scheduled event.
    @discardableResult
    public func publish<E: EventRepresentable>(
        _ event: E, deliverAt date: Date, id: String = UUID().uuidString, key: String? = nil, headers: [String: String] = [:]
    ) async throws(FerryError) -> PublishReceipt {
        try await publish(event, id: id, key: key, headers: headers, correlationID: nil, causationID: nil, schedule: .at(date))
    }

    /// Publishes one event to be appended `delay` after ferryd reads it (``PublishSchedule/after(_:)``).
    @discardableResult
    public func publish<E: EventRepresentable>(
        _ event: E, deliverAfter delay: Duration, id: String = UUID().uuidString, key: String? = nil, headers: [String: String] = [:]
    ) async throws(FerryError) -> PublishReceipt {
        try await publish(event, id: id, key: key, headers: headers, correlationID: nil, causationID: nil, schedule: .after(delay))
    }

    func publish<E: EventRepresentable>(
        _ event: E, id: String, key: String?, headers: [String: String], correlationID: String?, causationID: String?,
        schedule: PublishSchedule? = nil
    ) async throws(FerryError) -> PublishReceipt {
        let wire = try OutgoingEvent.make(event, id: id, key: key, headers: headers, correlationID: correlationID, causationID: causationID)
        return try await publish(wires: [wire], schedule: schedule)[0]
    }

    /// Removes a scheduled event before it is due, by its topic and id. Needs the publish grant
    /// on the topic.
    @discardableResult
    public func cancelScheduled(topic: String, id: String) async throws(FerryError) -> ScheduledCancellation {
        var cancel = CancelScheduled()
        cancel.topic = topic
        cancel.eventID = id
        let reply = try await connection.request(.cancelScheduled(cancel))
        guard case .scheduledCancelled(let answer) = reply else {
            throw FerryError(.unexpectedReply, "expected ScheduledCancelled, got \(reply)")
        }
        let dueAt = answer.dueUs == 0 ? nil : Date(timeIntervalSince1970: Double(answer.dueUs) / 1_000_000)
        switch answer.outcome {
        case .cancelled: return ScheduledCancellation(outcome: .cancelled, dueAt: dueAt)
        case .alreadyDue: return ScheduledCancellation(outcome: .alreadyDue, dueAt: dueAt)
        default: return ScheduledCancellation(outcome: .notScheduled, dueAt: nil)
        }
    }

    /// Cancels the scheduled event of type `E` (on its topic) with this id.
    @discardableResult
    public func cancelScheduled<E: EventRepresentable>(_ type: E.Type, id: String) async throws(FerryError) -> ScheduledCancellation {
        try await cancelScheduled(topic: E.topic, id: id)
    }

    /// Publishes many events in as few round trips as possible; throws the first rejection.
    @discardableResult
    public func publish<E: EventRepresentable>(batch events: [E]) async throws(FerryError) -> [PublishReceipt] {
        var wires: [WireEvent] = []
        wires.reserveCapacity(events.count)
        for event in events {
            wires.append(try OutgoingEvent.make(event, id: UUID().uuidString, key: nil, headers: [:], correlationID: nil, causationID: nil))
        }
        return try await publish(wires: wires)
    }

    /// Publishes raw envelopes (any payload, any content type) — for bridges and tools; with
    /// a `schedule`, each is appended when it comes due.
    public func publish(raw events: [RawEvent], schedule: PublishSchedule? = nil) async throws(FerryError) -> [PublishReceipt] {
        try await publish(wires: events.map(\.wire), schedule: schedule)
    }

    /// Publishes raw envelopes and reports each one's outcome, in order: its receipt, or why
    /// ferryd rejected it (or why it could not be confirmed). For tools that must tell which
    /// events of a batch failed rather than stop at the first.
    public func publishEach(raw events: [RawEvent], schedule: PublishSchedule? = nil) async -> [Result<PublishReceipt, FerryError>] {
        await outcomes(of: events.map(\.wire), schedule: schedule)
    }

    private func publish(wires: [WireEvent], schedule: PublishSchedule? = nil) async throws(FerryError) -> [PublishReceipt] {
        var receipts: [PublishReceipt] = []
        receipts.reserveCapacity(wires.count)
        for outcome in await outcomes(of: wires, schedule: schedule) { receipts.append(try outcome.get()) }
        return receipts
    }

    private func outcomes(of wires: [WireEvent], schedule: PublishSchedule?) async -> [Result<PublishReceipt, FerryError>] {
        guard let tracer = MessagingTracing.activeTracer else { return await outcomes(ofUntraced: wires, schedule: schedule) }
        var wires = wires
        let spans = wires.indices.map { MessagingTracing.startProducerSpan(for: &wires[$0], tracer: tracer) }
        let outcomes = await outcomes(ofUntraced: wires, schedule: schedule)
        for (span, outcome) in zip(spans, outcomes) {
            if case .failure(let error) = outcome {
                span.recordError(error)
                span.setStatus(SpanStatus(code: .error, message: error.message))
            }
            span.end()
        }
        return outcomes
    }

    private func outcomes(ofUntraced wires: [WireEvent], schedule: PublishSchedule?) async -> [Result<PublishReceipt, FerryError>] {
        let results = await connection.publish(wires.map { OutgoingPublish(event: $0, schedule: schedule) })
        return zip(wires, results).map { wire, result in
            result.map { outcome in
                switch outcome {
                case .stored(let offset):
                    return PublishReceipt(eventID: wire.id, topic: wire.topic, offset: offset)
                case .scheduled(let due, let duplicate):
                    return PublishReceipt(
                        eventID: wire.id, topic: wire.topic, offset: 0, scheduledFor: Date(timeIntervalSince1970: Double(due) / 1_000_000),
                        wasScheduledBefore: duplicate)
                }
            }
        }
    }

    /// Closes the connection (only if this bus opened it).
    public func close() async {
        if ownsConnection { await connection.close() }
    }
}

/// An event with an arbitrary payload, for tools and bridges that have no Swift type for it.
public struct RawEvent: Sendable {
    var wire = WireEvent()

    /// The topic the event is published to.
    public var topic: String { wire.topic }
    /// The event's unique id (ferryd stores an id once within its dedup window).
    public var id: String { wire.id }

    /// - Parameters:
    ///   - correlationID: the chain this event belongs to; a root event (nil) starts its own.
    ///   - causationID: the id of the event that caused this one.
    public init(
        topic: String, id: String = UUID().uuidString, key: String? = nil, type: String = "", schemaVersion: UInt32 = 1,
        contentType: String = "application/json", payload: Data, headers: [String: String] = [:], correlationID: String? = nil,
        causationID: String? = nil, createdAt: Date = Date()
    ) {
        wire.topic = topic
        wire.id = id
        wire.key = key ?? ""
        wire.type = type
        wire.contentType = contentType
        wire.payload = payload
        wire.headers = headers
        wire.schemaVersion = schemaVersion
        wire.correlationID = correlationID ?? id
        wire.causationID = causationID ?? ""
        wire.createdAtUs = Int64(createdAt.timeIntervalSince1970 * 1_000_000)
    }
}
