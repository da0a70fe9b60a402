import FerryProtocol
import Logging
import Synchronization

/// Runs one ``HandlerGroup`` inside a worker: subscribes, routes deliveries to lanes (one per
/// unit of concurrency, keys hashed so each key stays in order) and to batch buffers, settles,
/// and drains on shutdown.
///
/// Every task it needs is a child of ``run()``, which the worker runs in its task group: one per
/// lane, and a consumer and a timer per batched handler (never one per event or per batch).
final class GroupRunner: Sendable {
    let group: HandlerGroup
    private let registration: HandlerGroup.Registration
    private let connection: Connection
    private let bus: EventBus
    private let logger: Logger
    private let lanes: [(stream: AsyncStream<Delivery>, continuation: AsyncStream<Delivery>.Continuation)]
    private let batchBuffers: [String: BatchBuffer<Delivery>]
    private let unsettled = Mutex<Set<UInt64>>([])
    private let draining = Atomic<Bool>(false)
    private let subscriptionID = Mutex<UInt32?>(nil)
    private let roundRobin = Atomic<Int>(0)
    /// Fired by ``drain(until:)`` once the loops were told to end; ``drainDeadline`` says until when they may run.
    private let drainStarted = StopSignal()
    private let drainDeadline = Mutex<ContinuousClock.Instant?>(nil)

    /// Called (on the I/O thread) when the broker ends the group's subscription: its grant was
    /// revoked.
    private let onSubscriptionEnded: @Sendable (FerryError) -> Void

    init(
        group: HandlerGroup, connection: Connection, bus: EventBus, logger: Logger,
        onSubscriptionEnded: @escaping @Sendable (FerryError) -> Void = { _ in }
    ) {
        self.onSubscriptionEnded = onSubscriptionEnded
        self.group = group
        self.registration = group.registration.withLock { $0 }
        self.connection = connection
        self.bus = bus
        self.logger = logger
        self.lanes = (0..<max(1, group.options.concurrency)).map { _ in AsyncStream<Delivery>.makeStream() }
        var buffers: [String: BatchBuffer<Delivery>] = [:]
        for (typeName, handler) in registration.handlers {
            if case .batch(let options, _) = handler { buffers[typeName] = BatchBuffer(options: options) }
        }
        self.batchBuffers = buffers
    }

    /// Subscribes; deliveries then flow to the loops of ``run()``.
    func subscribe() async throws(FerryError) {
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
        let subscribed = try await connection.subscribe(subscribe, onEnd: onSubscriptionEnded) { [self] deliveries in route(deliveries) }
        subscriptionID.withLock { $0 = subscribed.subscriptionID }
        logger.info(
            "handler group subscribed",
            metadata: [
                "group": "\(group.name)", "topics": "\(subscribe.patterns.joined(separator: ","))", "credit": "\(subscribed.maxInFlight)",
            ])
    }

    /// How a child task of ``run()`` ended.
    private enum LoopEnd: Sendable {
        case handlerLoop, timer, deadline
    }

    /// Runs the group's loops as child tasks until ``drain(until:)`` has ended them; at the drain's
    /// deadline it hands back what is unsettled and cancels the handlers still running. Returns
    /// only once every child task has returned.
    func run() async {
        await withTaskGroup(of: LoopEnd.self) { tasks in
            var handlerLoops = 0
            for lane in lanes {
                handlerLoops += 1
                tasks.addTask { [self] in
                    for await delivery in lane.stream { await process(delivery) }
                    return .handlerLoop
                }
            }
            for (typeName, buffer) in batchBuffers {
                guard case .batch(_, let handler) = registration.handlers[typeName] else { continue }
                handlerLoops += 1
                tasks.addTask { [self] in
                    await buffer.consume { batch in await process(batch, with: handler) }
                    return .handlerLoop
                }
                tasks.addTask {
                    await buffer.runTimer()
                    return .timer
                }
            }
            await drainStarted.wait()
            let deadline = drainDeadline.withLock { $0 } ?? .now
            tasks.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return .deadline
            }
            while handlerLoops > 0, let end = await tasks.next() {
                if case .handlerLoop = end { handlerLoops -= 1 }
                if case .deadline = end {
                    logger.warning("handlers still running at the shutdown deadline: cancelled", metadata: ["group": "\(group.name)"])
                    break
                }
            }
            handBack()
            tasks.cancelAll()
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
        for (typeName, batch) in batches where !(batchBuffers[typeName]?.append(batch, now: .now) ?? false) { release(batch) }
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
        let typeName = handlerName(for: delivery.event)
        guard case .single(let handler)? = registration.handlers[typeName] else { return }
        await handle([delivery], attempt: delivery.attempt) {
            let context = EventContext(
                event: ReceivedEvent(wire: delivery.event, upcasters: connection.configuration.upcasters), attempt: delivery.attempt, offset: delivery.offset,
                lastError: delivery.lastError.isEmpty ? nil : delivery.lastError, group: group.name, bus: bus)
            guard let tracer = MessagingTracing.activeTracer else { return try await handler(context.event, context) }
            try await MessagingTracing.process(delivery.event, group: group.name, attempt: delivery.attempt, tracer: tracer) {
                try await handler(context.event, context)
            }
        }
    }

    private func process(_ batch: [Delivery], with handler: HandlerGroup.BatchHandler) async {
        let attempt = batch.map(\.attempt).max() ?? 1
        await handle(batch, attempt: attempt) {
            let events = batch.map { ReceivedEvent(wire: $0.event, upcasters: connection.configuration.upcasters) }
            let context = BatchContext(events: events, attempt: attempt, group: group.name, bus: bus)
            guard let tracer = MessagingTracing.activeTracer else { return try await handler(events, context) }
            try await MessagingTracing.processBatch(batch.map(\.event), group: group.name, attempt: attempt, tracer: tracer) {
                try await handler(events, context)
            }
        }
    }

    /// Runs a handler for `deliveries` and settles them by its outcome. While draining, or once
    /// shutdown cancelled the handlers (past the deadline, or the worker's task was cancelled),
    /// they go back without spending an attempt instead.
    private func handle(_ deliveries: [Delivery], attempt: UInt32, _ body: () async throws -> Void) async {
        if draining.load(ordering: .relaxed) || Task.isCancelled {
            release(deliveries)
            return
        }
        do {
            try await body()
            for delivery in deliveries { settle(delivery.deliveryID, outcome: .success(())) }
        } catch {
            if Task.isCancelled {
                release(deliveries)
                return
            }
            logFailure(error, eventIDs: deliveries.map(\.event.id), attempt: attempt)
            for delivery in deliveries { settle(delivery.deliveryID, outcome: .failure(error)) }
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

    /// Hands back, without spending an attempt, every delivery not settled yet.
    private func handBack() {
        let remaining = unsettled.withLock { set in
            defer { set.removeAll() }
            return Array(set)
        }
        if !remaining.isEmpty { connection.settle(nacks: remaining.map(Session.release)) }
    }

    /// Stops taking deliveries and ends the loops of ``run()``: running handlers may finish until
    /// `deadline`; what is still queued goes back to the broker without spending an attempt.
    func drain(until deadline: ContinuousClock.Instant) async {
        draining.store(true, ordering: .relaxed)
        if let subscriptionID = subscriptionID.withLock({ $0 }) {
            var unsubscribe = Unsubscribe()
            unsubscribe.subscriptionID = subscriptionID
            unsubscribe.drain = true
            // A live broker answers at once; a dead one must not hold the shutdown for the whole
            // request timeout (the broker releases whatever a vanished member held anyway).
            let answered = StopSignal()
            connection.send(.unsubscribe(unsubscribe)) { _ in answered.fire() }
            _ = await answered.wait(until: min(deadline, .now + .seconds(2)))
        }
        for lane in lanes { lane.continuation.finish() }
        for buffer in batchBuffers.values { buffer.close() }
        drainDeadline.withLock { $0 = deadline }
        drainStarted.fire()
    }
}
