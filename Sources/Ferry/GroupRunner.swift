import FerryProtocol
import Logging
import Synchronization

/// Runs one ``HandlerGroup`` inside a worker: subscribes, routes deliveries to lanes (one per
/// unit of concurrency, keys hashed so each key stays in order) and to batch buffers, settles,
/// and drains on shutdown.
final class GroupRunner: Sendable {
    let group: HandlerGroup
    private let registration: HandlerGroup.Registration
    private let connection: Connection
    private let bus: EventBus
    private let logger: Logger
    private let lanes: [(stream: AsyncStream<Delivery>, continuation: AsyncStream<Delivery>.Continuation)]
    private let batchBuffers: [String: BatchBuffer]
    private let unsettled = Mutex<Set<UInt64>>([])
    private let draining = Atomic<Bool>(false)
    private let subscriptionID = Mutex<UInt32?>(nil)
    private let roundRobin = Atomic<Int>(0)
    private let lanesDone = StopSignal()
    private let activeTasks = Atomic<Int>(0)

    init(group: HandlerGroup, connection: Connection, bus: EventBus, logger: Logger) {
        self.group = group
        self.registration = group.registration.withLock { $0 }
        self.connection = connection
        self.bus = bus
        self.logger = logger
        self.lanes = (0..<max(1, group.options.concurrency)).map { _ in AsyncStream<Delivery>.makeStream() }
        var buffers: [String: BatchBuffer] = [:]
        for (typeName, handler) in registration.handlers {
            if case .batch(let options, _) = handler { buffers[typeName] = BatchBuffer(options: options) }
        }
        self.batchBuffers = buffers
    }

    /// Subscribes and starts the lane and batch tasks.
    func start() async throws(FerryError) {
        var subscribe = Subscribe()
        subscribe.group = group.name
        subscribe.patterns = Array(Set(registration.topics.values)).sorted()
        let largestBatch = batchBuffers.values.map(\.options.maxSize).max() ?? 0
        subscribe.maxInFlight = UInt32(clamping: max(group.options.maxInFlight, 2 * largestBatch))
        subscribe.start = group.options.startFromEarliest ? .startEarliest : .startLatest
        subscribe.memberName = connection.configuration.clientName
        if let retry = group.options.retry {
            var policy = WireRetryPolicy()
            policy.initialDelayMs = retry.initialDelay.milliseconds
            policy.multiplierPermille = UInt32(clamping: Int((retry.multiplier * 1000).rounded()))
            policy.maxDelayMs = retry.maxDelay.milliseconds
            policy.maxAttempts = UInt32(clamping: retry.maxAttempts)
            policy.jitterPermille = UInt32(clamping: Int((retry.jitter * 1000).rounded()))
            policy.ackTimeoutMs = retry.ackTimeout.milliseconds
            subscribe.retry = policy
        }
        for lane in lanes {
            spawn { [self] in
                for await delivery in lane.stream { await process(delivery) }
            }
        }
        for (typeName, buffer) in batchBuffers {
            guard case .batch(_, let handler) = registration.handlers[typeName] else { continue }
            spawn { [self] in
                while let batch = await buffer.next() { await process(batch, with: handler) }
            }
        }
        let subscribed = try await connection.subscribe(subscribe) { [self] deliveries in route(deliveries) }
        subscriptionID.withLock { $0 = subscribed.subscriptionID }
        logger.info(
            "handler group subscribed",
            metadata: [
                "group": "\(group.name)", "topics": "\(subscribe.patterns.joined(separator: ","))", "credit": "\(subscribed.maxInFlight)",
            ])
    }

    /// Long-lived tasks, one per lane or batch buffer (never one per event).
    private func spawn(_ body: @escaping @Sendable () async -> Void) {
        activeTasks.add(1, ordering: .relaxed)
        Task { [self] in
            await body()
            if activeTasks.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { lanesDone.fire() }
        }
    }

    /// Called on the I/O thread: only enqueues.
    private func route(_ deliveries: [Delivery]) {
        unsettled.withLock { set in for delivery in deliveries { set.insert(delivery.deliveryID) } }
        if draining.load(ordering: .relaxed) {
            release(deliveries)
            return
        }
        var batches: [String: [Delivery]] = [:]
        for delivery in deliveries {
            let typeName = handlerName(for: delivery.event)
            switch registration.handlers[typeName] {
            case .single?:
                let key = delivery.event.key
                let index = key.isEmpty ? roundRobin.add(1, ordering: .relaxed).newValue : key.hashValue
                if case .terminated = lanes[abs(index % lanes.count)].continuation.yield(delivery) { release([delivery]) }
            case .batch?:
                batches[typeName, default: []].append(delivery)
            case nil:
                settle(
                    delivery.deliveryID,
                    outcome: .failure(DeadLetterError("group '\(group.name)' has no handler for event type '\(typeName)'")))
            }
        }
        for (typeName, batch) in batches where !(batchBuffers[typeName]?.append(batch) ?? false) { release(batch) }
    }

    /// The registered handler for an event: by type name, else a raw handler of its topic,
    /// else (for an untyped event) the handler of its topic's type.
    private func handlerName(for event: WireEvent) -> String {
        if registration.handlers[event.type] != nil { return event.type }
        let raw = "raw:" + event.topic
        if registration.handlers[raw] != nil { return raw }
        return event.type.isEmpty ? registration.typeByTopic[event.topic] ?? "" : event.type
    }

    private func process(_ delivery: Delivery) async {
        if draining.load(ordering: .relaxed) {
            release([delivery])
            return
        }
        let typeName = handlerName(for: delivery.event)
        guard case .single(let handler)? = registration.handlers[typeName] else { return }
        let context = EventContext(
            event: ReceivedEvent(wire: delivery.event), attempt: delivery.attempt, offset: delivery.offset,
            lastError: delivery.lastError.isEmpty ? nil : delivery.lastError, group: group.name, bus: bus)
        do {
            try await handler(context.event, context)
            settle(delivery.deliveryID, outcome: .success(()))
        } catch {
            logFailure(error, eventIDs: [delivery.event.id], attempt: delivery.attempt)
            settle(delivery.deliveryID, outcome: .failure(error))
        }
    }

    private func process(_ batch: [Delivery], with handler: HandlerGroup.BatchHandler) async {
        if draining.load(ordering: .relaxed) {
            release(batch)
            return
        }
        let events = batch.map { ReceivedEvent(wire: $0.event) }
        let context = BatchContext(events: events, attempt: batch.map(\.attempt).max() ?? 1, group: group.name, bus: bus)
        do {
            try await handler(events, context)
            for delivery in batch { settle(delivery.deliveryID, outcome: .success(())) }
        } catch {
            logFailure(error, eventIDs: events.map(\.id), attempt: context.attempt)
            for delivery in batch { settle(delivery.deliveryID, outcome: .failure(error)) }
        }
    }

    private func logFailure(_ error: any Error, eventIDs: [String], attempt: UInt32) {
        logger.warning(
            "handler failed",
            metadata: [
                "group": "\(group.name)", "events": "\(eventIDs.prefix(5).joined(separator: ","))\(eventIDs.count > 5 ? ",…" : "")",
                "attempt": "\(attempt)", "error": "\(error)",
            ])
    }

    private func settle(_ deliveryID: UInt64, outcome: Result<Void, any Error>) {
        guard unsettled.withLock({ $0.remove(deliveryID) }) != nil else { return }
        switch outcome {
        case .success:
            connection.settle(acks: [deliveryID])
        case .failure(let error):
            var nack = Nack()
            nack.deliveryID = deliveryID
            switch error {
            case let poison as DeadLetterError:
                nack.deadLetter = true
                nack.error = poison.reason
            case let later as RetryLaterError:
                nack.delayMs = later.delay.milliseconds
                nack.error = later.reason
            default:
                nack.error = "\(error)"
            }
            connection.settle(nacks: [nack])
        }
    }

    /// Hands deliveries back without spending an attempt.
    private func release(_ deliveries: [Delivery]) {
        let ids = unsettled.withLock { set in deliveries.map(\.deliveryID).filter { set.remove($0) != nil } }
        if !ids.isEmpty { connection.settle(nacks: ids.map(Session.release)) }
    }

    /// Stops taking deliveries, lets running handlers finish until `deadline`, and hands
    /// back whatever is still unsettled.
    func drain(until deadline: ContinuousClock.Instant) async {
        draining.store(true, ordering: .relaxed)
        if let subscriptionID = subscriptionID.withLock({ $0 }) {
            var unsubscribe = Unsubscribe()
            unsubscribe.subscriptionID = subscriptionID
            unsubscribe.drain = true
            // A live broker answers at once; a dead one must not hold the shutdown for the whole
            // request timeout (the broker releases whatever a vanished member held anyway).
            let answered = StopSignal()
            let connection = connection
            Task {
                _ = try? await connection.request(.unsubscribe(unsubscribe))
                answered.fire()
            }
            _ = await answered.wait(until: min(deadline, .now + .seconds(2)))
        }
        for lane in lanes { lane.continuation.finish() }
        for buffer in batchBuffers.values { buffer.close() }
        if activeTasks.load(ordering: .acquiring) > 0 {
            let finished = await lanesDone.wait(until: deadline)
            if !finished { logger.warning("handlers still running at the shutdown deadline", metadata: ["group": "\(group.name)"]) }
        }
        let remaining = unsettled.withLock { set in
            defer { set.removeAll() }
            return Array(set)
        }
        if !remaining.isEmpty { connection.settle(nacks: remaining.map(Session.release)) }
    }
}
