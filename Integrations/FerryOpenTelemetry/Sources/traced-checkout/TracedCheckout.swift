import ArgumentParser
import Ferry
import FerryOpenTelemetry
import Foundation
import Logging
import ServiceLifecycle
import Tracing

/// The event the example publishes and handles.
struct CheckoutCompleted: Event {
    static let topic = "otel.checkouts"
    let orderID: String
    var eventKey: String? { orderID }
}

/// Publishes one event inside a span and handles it in a handler group that fails its first
/// attempt, with swift-otel exporting every span over OTLP/HTTP; prints the root span's trace id.
@main
struct TracedCheckout: AsyncParsableCommand {
    @Option(help: "ferryd's endpoint.") var broker = "tcp://127.0.0.1:7400"
    @Option(help: "The collector's OTLP/HTTP base URL.") var otlpEndpoint = "http://127.0.0.1:4318"
    @Option(help: "Give up after this many seconds.") var timeoutSeconds = 30

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let exporter = try FerryOpenTelemetry.bootstrapTracing(
            serviceName: "traced-checkout", endpoint: otlpEndpoint, scheduleDelay: .milliseconds(200))
        let logger = Logger(label: "traced-checkout")
        let configuration = ClientConfiguration(endpoint: broker, clientName: "traced-checkout")
        let worker = Worker(name: "traced-checkout", configuration: configuration)
        let handled = AsyncStream<Void>.makeStream()
        var options = HandlerGroupOptions()
        options.retry = RetryOptions(initialDelay: .milliseconds(100), multiplier: 2, maxDelay: .seconds(1), maxAttempts: 3, jitter: 0)
        worker.group("receipts", options: options) { group in
            group.on(CheckoutCompleted.self) { _, context in
                if context.attempt == 1 { throw CheckoutFailure() }
                handled.continuation.yield()
            }
        }
        let traffic = Traffic(broker: configuration, worker: worker, handled: handled.stream, timeout: .seconds(timeoutSeconds))
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: exporter), .init(service: worker),
                    .init(service: traffic, successTerminationBehavior: .gracefullyShutdownGroup),
                ], logger: logger))
        try await group.run()
    }
}

struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct CheckoutFailure: Error, CustomStringConvertible {
    var description: String { "the receipt printer is out of paper (first attempt)" }
}

/// Publishes the event once the worker is ready, waits until it is handled, then ends (which
/// shuts the group down: the exporter sends what is left).
struct Traffic: Service {
    let broker: ClientConfiguration
    let worker: Worker
    let handled: AsyncStream<Void>
    let timeout: Duration

    func run() async throws {
        await worker.waitUntilReady()
        let bus = try EventBus(configuration: broker)
        try await withSpan("checkout") { span in
            _ = try await bus.publish(CheckoutCompleted(orderID: "order-\(UUID().uuidString.prefix(8))"))
            // The trace id, as the W3C header the publish carried shows it.
            var headers: [String: String] = [:]
            InstrumentationSystem.tracer.inject(span.context, into: &headers, using: HeaderInjector())
            if let traceparent = headers["traceparent"] { print("traceparent \(traceparent)") }
        }
        await bus.close()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in handled { return } }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw CancellationError()
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
