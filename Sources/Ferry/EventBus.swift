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

    func publish<E: EventRepresentable>(
        _ event: E, id: String, key: String?, headers: [String: String], correlationID: String?, causationID: String?
    ) async throws(FerryError) -> PublishReceipt {
        let wire = try OutgoingEvent.make(event, id: id, key: key, headers: headers, correlationID: correlationID, causationID: causationID)
        return try await publish(wires: [wire])[0]
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

    /// Publishes raw envelopes (any payload, any content type) — for bridges and tools.
    public func publish(raw events: [RawEvent]) async throws(FerryError) -> [PublishReceipt] {
        try await publish(wires: events.map(\.wire))
    }

    /// Publishes raw envelopes and reports each one's outcome, in order: its receipt, or why
    /// ferryd rejected it (or why it could not be confirmed). For tools that must tell which
    /// events of a batch failed rather than stop at the first.
    public func publishEach(raw events: [RawEvent]) async -> [Result<PublishReceipt, FerryError>] {
        await outcomes(of: events.map(\.wire))
    }

    private func publish(wires: [WireEvent]) async throws(FerryError) -> [PublishReceipt] {
        var receipts: [PublishReceipt] = []
        receipts.reserveCapacity(wires.count)
        for outcome in await outcomes(of: wires) { receipts.append(try outcome.get()) }
        return receipts
    }

    private func outcomes(of wires: [WireEvent]) async -> [Result<PublishReceipt, FerryError>] {
        guard let tracer = MessagingTracing.activeTracer else { return await outcomes(ofUntraced: wires) }
        var wires = wires
        let spans = wires.indices.map { MessagingTracing.startProducerSpan(for: &wires[$0], tracer: tracer) }
        let outcomes = await outcomes(ofUntraced: wires)
        for (span, outcome) in zip(spans, outcomes) {
            if case .failure(let error) = outcome {
                span.recordError(error)
                span.setStatus(SpanStatus(code: .error, message: error.message))
            }
            span.end()
        }
        return outcomes
    }

    private func outcomes(ofUntraced wires: [WireEvent]) async -> [Result<PublishReceipt, FerryError>] {
        let results = await connection.publish(wires)
        return zip(wires, results).map { wire, result in
            result.map { PublishReceipt(eventID: wire.id, topic: wire.topic, offset: $0) }
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
