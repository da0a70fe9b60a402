import FerryProtocol
import Synchronization

/// A consumer group hosted by a ``Worker``: the handlers it runs and how it consumes.
///
/// ```swift
/// worker.group("email") { group in
///     group.on(OrderConfirmed.self) { event, context in try await mailer.sendConfirmation(event) }
///     group.on(OrderShipped.self, OrderCancelled.self) { event, context in … }
///     group.on(UserAction.self, batch: .init(maxSize: 500, maxWait: .milliseconds(200))) { events, context in … }
/// }
/// ```
/// Every group receives every event of the types it handles; the members of one group (the
/// same group name in several worker processes) share them. A handler that returns acks the
/// event; one that throws nacks it for a retry with backoff; ``DeadLetterError`` sends it to
/// the dead-letter queue at once.
public final class HandlerGroup: Sendable {
    typealias SingleHandler = @Sendable (ReceivedEvent, EventContext) async throws -> Void
    typealias BatchHandler = @Sendable ([ReceivedEvent], BatchContext) async throws -> Void

    enum Handler: Sendable {
        case single(SingleHandler)
        case batch(BatchOptions, BatchHandler)
    }

    struct Registration: Sendable {
        var handlers: [String: Handler] = [:]
        /// Topic of each registered type, and the type registered for each topic.
        var topics: [String: String] = [:]
        var typeByTopic: [String: String] = [:]
    }

    public let name: String
    public let options: HandlerGroupOptions
    let registration = Mutex(Registration())

    init(name: String, options: HandlerGroupOptions) {
        self.name = name
        self.options = options
    }

    /// Handles events of type `E`, one at a time per key.
    public func on<E: EventRepresentable>(_ type: E.Type, _ handler: @escaping @Sendable (E, EventContext) async throws -> Void) {
        register(
            E.typeName, topic: E.topic,
            .single { received, context in
                try await handler(Self.decode(received, as: E.self), context)
            })
    }

    /// Handles several event types with one handler; switch over the event's concrete type.
    public func on(
        _ types: any EventRepresentable.Type..., handler: @escaping @Sendable (any EventRepresentable, EventContext) async throws -> Void
    ) {
        for type in types {
            register(
                type.typeName, topic: type.topic,
                .single { received, context in
                    try await handler(Self.decode(received, as: type), context)
                })
        }
    }

    /// Handles events of type `E` in batches cut by size and by wait. The whole batch is
    /// acked when the handler returns and nacked when it throws.
    public func on<E: EventRepresentable>(
        _ type: E.Type, batch: BatchOptions, _ handler: @escaping @Sendable ([E], BatchContext) async throws -> Void
    ) {
        register(
            E.typeName, topic: E.topic,
            .batch(batch) { received, context in
                var events: [E] = []
                events.reserveCapacity(received.count)
                for event in received { events.append(try Self.decode(event, as: E.self)) }
                try await handler(events, context)
            })
    }

    private func register(_ typeName: String, topic: String, _ handler: Handler) {
        registration.withLock { registration in
            precondition(registration.handlers[typeName] == nil, "group '\(name)' already handles \(typeName)")
            registration.handlers[typeName] = handler
            registration.topics[typeName] = topic
            registration.typeByTopic[topic] = typeName
        }
    }

    private static func decode<E: EventRepresentable>(_ received: ReceivedEvent, as type: E.Type) throws -> E {
        do {
            return try received.decode(E.self)
        } catch {
            // A payload that does not decode will never decode: dead-letter it.
            throw DeadLetterError(error.message)
        }
    }
}

/// What a batched handler knows about its batch.
public struct BatchContext: Sendable {
    /// The events as received, in the same order as the decoded ones.
    public let events: [ReceivedEvent]
    /// The highest attempt number in the batch.
    public let attempt: UInt32
    public let group: String
    let bus: EventBus

    /// Publishes an event from the batch handler (a new correlation chain).
    @discardableResult
    public func publish<E: EventRepresentable>(_ event: E, key: String? = nil) async throws(FerryError) -> PublishReceipt {
        try await bus.publish(event, key: key)
    }
}

extension HandlerGroup {
    /// Handles every event of `topic` as received, whatever its type or encoding — for
    /// bridges, tools and events from other languages that have no Swift type here.
    public func onRaw(topic: String, _ handler: @escaping @Sendable (ReceivedEvent, EventContext) async throws -> Void) {
        registration.withLock { registration in
            let typeName = "raw:" + topic
            precondition(registration.handlers[typeName] == nil, "group '\(name)' already handles topic \(topic)")
            registration.handlers[typeName] = .single(handler)
            registration.topics[typeName] = topic
            registration.typeByTopic[topic] = typeName
        }
    }
}
