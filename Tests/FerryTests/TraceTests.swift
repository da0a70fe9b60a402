import Ferry
import FerryTestSupport
import Foundation
import InMemoryTracing
import Synchronization
import Testing
import Tracing

#if canImport(Glibc)
    import Glibc
#endif

struct TraceOrder: Event {
    static let topic = "trace.orders"
    let orderID: String
    var eventKey: String? { orderID }
}

struct TraceEmail: Event {
    static let topic = "trace.emails"
    let orderID: String
}

/// The trace log read through the SDK, with real ferryd and worker processes.
@Suite("Event traces through real processes", .serialized, .timeLimit(.minutes(3)))
struct TraceTests {
    /// The trace of `selector`, asked for again until `done` holds (the trace is written on
    /// ferryd's own thread), with a deadline.
    static func trace(_ bus: EventBus, _ selector: EventTrace.Selector, until done: @escaping @Sendable (EventTrace) -> Bool) async throws
        -> EventTrace
    {
        let last = Mutex<EventTrace?>(nil)
        _ = await Wait.until(timeout: .seconds(15)) {
            guard let trace = try? await bus.trace(selector) else { return false }
            last.withLock { $0 = trace }
            return done(trace)
        }
        return try #require(last.withLock { $0 })
    }

    static func kinds(_ event: EventTrace.Event?) -> [EventTrace.Step.Kind] { event?.steps.map(\.kind) ?? [] }

    @Test("a handler that fails twice then succeeds and publishes a follow-up: each attempt, each error and delay, then the child")
    func failTwiceThenFollowUp() async throws {
        let ferryd = try await Ferryd()
        let worker = Worker(name: "orders-worker", configuration: client(ferryd, "inventory-1"))
        var options = HandlerGroupOptions()
        options.retry = RetryOptions(initialDelay: .milliseconds(100), multiplier: 2, maxDelay: .seconds(1), maxAttempts: 5, jitter: 0)
        worker.group("inventory", options: options) { group in
            group.on(TraceOrder.self) { order, context in
                if context.attempt < 3 { throw TestFailure(message: "out of stock (attempt \(context.attempt))") }
                try await context.publish(TraceEmail(orderID: order.orderID))
            }
        }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd, "orders-api"))
        let receipt = try await bus.publish(TraceOrder(orderID: "order-42"))
        let trace = try await Self.trace(bus, .event(id: receipt.eventID)) { $0.events.count == 2 && Self.kinds($0.events.first).last == .acked }
        try await running.stop()
        #expect(trace.events.map(\.type) == ["TraceOrder", "TraceEmail"])
        let order = try #require(trace.events.first)
        #expect(order.publisher == "orders-api" && order.key == "order-42")
        #expect(
            Self.kinds(order) == [.delivered, .nacked, .retryScheduled, .delivered, .nacked, .retryScheduled, .delivered, .acked])
        #expect(order.steps.filter { $0.kind == .delivered }.map(\.attempt) == [1, 2, 3])
        #expect(order.steps.filter { $0.kind == .nacked }.map(\.detail).allSatisfy { $0.contains("out of stock") })
        #expect(order.steps.filter { $0.kind == .retryScheduled }.map(\.delayMilliseconds) == [100, 200])
        #expect(order.steps.allSatisfy { $0.group == "inventory" })
        #expect(order.steps.filter { $0.kind == .delivered }.allSatisfy { $0.actor == "inventory-1" })
        let email = trace.events[1]
        #expect(email.causationID == order.id && email.correlationID == order.id && email.publisher == "inventory-1")
        #expect(trace.children(of: order) == [email])
        // The order's key and its correlation id find the same chain.
        #expect(try await bus.trace(.key("order-42")).events.map(\.id) == [order.id, email.id])
        #expect(try await bus.trace(.correlation(order.id)).events.count == 2)
        #expect(try await bus.trace(.event(id: "never-published")).events.isEmpty)
        await bus.close()
    }

    @Test("a poison event is dead-lettered, requeued, handled; a worker killed with it in flight shows as lost; restarts keep it all")
    func deadLetterRequeueKilledWorkerRestart() async throws {
        let ferryd = try await Ferryd(["--peer-timeout-ms", "1000", "--heartbeat-ms", "200"])
        let bus = try EventBus(configuration: client(ferryd, "ops"))
        // A worker process that takes the event and never finishes it, then is killed.
        let doomed = try ManagedProcess(
            product: "ferry-interop",
            arguments: [
                "consume", "--endpoint", ferryd.endpoint, "--group", "email", "--topic", TraceOrder.topic, "--count", "1",
                "--handler-delay-ms", "600000",
            ], captureOutput: true)
        #expect(await Wait.until(timeout: .seconds(15)) { (try? await bus.groups().first { $0.name == "email" }?.members) == 1 })
        let receipt = try await bus.publish(TraceOrder(orderID: "order-7"))
        #expect(await Wait.until(timeout: .seconds(10)) { doomed.outputLines.count >= 1 })
        doomed.send(SIGKILL)
        // The survivor rejects it as poison once; after a requeue it handles it.
        let healthy = Atomic<Bool>(false)
        let worker = Worker(name: "email-worker", configuration: client(ferryd, "email-2"))
        worker.group("email") { group in
            group.on(TraceOrder.self) { _, _ in
                if !healthy.load(ordering: .relaxed) { throw DeadLetterError("template missing") }
            }
        }
        let running = try await RunningWorker(worker)
        #expect(await Wait.until(timeout: .seconds(15)) { (try? await bus.deadLetters(group: "email").count) == 1 })
        healthy.store(true, ordering: .relaxed)
        #expect(try await bus.requeueDeadLetters(group: "email") == 1)
        let trace = try await Self.trace(bus, .event(id: receipt.eventID)) { Self.kinds($0.events.first).last == .acked }
        try await running.stop()
        let expected: [EventTrace.Step.Kind] = [
            .delivered, .memberLost, .retryScheduled, .delivered, .nacked, .deadLettered, .requeued, .delivered, .acked,
        ]
        let steps = try #require(trace.events.first?.steps)
        #expect(steps.map(\.kind) == expected)
        #expect(steps[0].actor == "ferry-interop" && steps[1].actor == "ferry-interop")
        #expect(steps[3].actor == "email-2" && steps[3].attempt == 2)
        #expect(steps[5].detail.contains("rejected by the handler") && steps[5].detail.contains("template missing"))
        #expect(steps[6].actor == "ops")
        await bus.close()

        // A graceful restart keeps what was recorded.
        ferryd.process.send(SIGTERM)
        #expect(await ferryd.process.waitForExit(timeout: .seconds(20)) != nil)
        let restarted = try await Ferryd(reusing: ferryd)
        let again = try EventBus(configuration: client(restarted, "ops"))
        #expect(try await again.trace(.event(id: receipt.eventID)).events.first?.steps.map(\.kind) == expected)
        await again.close()
    }

    @Test("OpenTelemetry: a publish here and the handler in another process share one trace, with a span per attempt")
    func distributedTracingAcrossProcesses() async throws {
        let ferryd = try await Ferryd()
        let tracer = W3CInMemoryTracer()
        let bus = try EventBus(configuration: client(ferryd, "traced-publisher"))
        let (traceID, producerSpanID) = try await withTracer(tracer) {
            try await withSpan("checkout") { span in
                _ = try await bus.publish(TraceOrder(orderID: "order-9"))
                return (span.context.inMemorySpanContext?.traceID ?? "", tracer.recorder.finishedSpans.first { $0.kind == .producer }?.spanID ?? "")
            }
        }
        await bus.close()
        let producer = try #require(tracer.recorder.finishedSpans.first { $0.kind == .producer })
        #expect(producer.operationName == "send \(TraceOrder.topic)" && producer.spanID == producerSpanID && producer.traceID == traceID)
        #expect(producer.attributes.get("messaging.system") == .string("ferry"))
        #expect(producer.attributes.get("messaging.destination.name") == .string(TraceOrder.topic))
        // The handler runs in ferry-interop, which fails it twice, then handles it.
        let consumer = try ManagedProcess(
            product: "ferry-interop",
            arguments: [
                "consume", "--endpoint", ferryd.endpoint, "--group", "traced", "--topic", TraceOrder.topic, "--count", "1",
                "--fail-times", "2", "--trace-w3c",
            ], captureOutput: true)
        #expect(await consumer.waitForExit(timeout: .seconds(60)) == 0)
        let spans = consumer.outputLines.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }.filter { ($0["kind"] as? String) == "consumer" }
        #expect(spans.count == 3)
        #expect(spans.allSatisfy { ($0["trace_id"] as? String) == traceID })
        #expect(spans.allSatisfy { ($0["parent_span_id"] as? String) == producerSpanID })
        #expect(spans.allSatisfy { ($0["links"] as? [String]) == [producerSpanID] })
        #expect(spans.map { $0["error"] as? Bool } == [true, true, false])
        let attempts = spans.compactMap { ($0["attributes"] as? [String: String])?["ferry.delivery.attempt"] }
        #expect(attempts == ["1", "2", "3"])
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
