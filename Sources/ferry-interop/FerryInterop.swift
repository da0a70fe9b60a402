import ArgumentParser
import Ferry
import FerryTestSupport
import Foundation
import InMemoryTracing
import Logging
import Synchronization
import Tracing

/// Publishes or consumes events through the Swift SDK on command, so that clients written in
/// other languages can be tested against it.
@main
struct FerryInterop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry-interop",
        abstract: "Swift side of Ferry's cross-language tests.",
        subcommands: [Consume.self, Publish.self])
}

/// The event the interop tests exchange.
struct InteropPing: Event {
    let seq: Int
    let from: String
}

/// Prints one JSON object per line on stdout.
func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Handle COUNT events of TOPIC in GROUP, printing each as JSON.")

    @Option var endpoint: String
    @Option var group: String
    @Option var topic: String
    @Option var count: Int
    @Option var timeoutSeconds: Int = 30
    @Option(help: "Keep each event this long before acking it (to hold events in flight).")
    var handlerDelayMs: Int = 0
    @Option(help: "Credit: the most unsettled deliveries this member holds.")
    var maxInFlight: Int = 256
    @Option(help: "Fail each event's first N attempts (the handler throws), then handle it.")
    var failTimes: Int = 0
    @Flag(help: "Trace with an in-memory tracer propagating W3C traceparent; print each handler's span as JSON at the end.")
    var traceW3c = false

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let tracer = traceW3c ? W3CInMemoryTracer() : nil
        if let tracer { InstrumentationSystem.bootstrap(tracer) }
        defer { if let tracer { emitSpans(of: tracer) } }
        let worker = Worker(name: "ferry-interop", configuration: ClientConfiguration(endpoint: endpoint, clientName: "ferry-interop"))
        let seen = Counter()
        let expected = count
        var options = HandlerGroupOptions()
        options.maxInFlight = maxInFlight
        let delay = handlerDelayMs
        let failTimes = self.failTimes
        worker.group(group, options: options) { handlers in
            handlers.onRaw(topic: topic) { event, context in
                if context.attempt <= failTimes { throw InteropFailure(attempt: context.attempt) }
                emit([
                    "id": event.id, "topic": event.topic, "key": event.key ?? "", "type": event.typeName,
                    "payload": String(decoding: event.payload, as: UTF8.self), "attempt": context.attempt,
                ])
                if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
                if seen.increment() == expected { worker.stop() }
            }
        }
        let timeout = Task {
            try await Task.sleep(for: .seconds(timeoutSeconds))
            worker.stop()
        }
        try await worker.run()
        timeout.cancel()
        if seen.value < expected { throw ExitCode(2) }
    }
}

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish COUNT InteropPing events to TOPIC and wait for confirms.")

    @Option var endpoint: String
    @Option var topic: String
    @Option var count: Int
    @Option var prefix: String
    @Flag(help: "Publish inside a span of an in-memory tracer propagating W3C traceparent; print its trace id and the spans.")
    var traceW3c = false

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let tracer = traceW3c ? W3CInMemoryTracer() : nil
        if let tracer { InstrumentationSystem.bootstrap(tracer) }
        let bus = try EventBus(configuration: ClientConfiguration(endpoint: endpoint, clientName: "ferry-interop"))
        let events = try (0..<count).map { index in
            RawEvent(
                topic: topic, id: "\(prefix)-\(index)", key: "k-\(index % 4)", type: "InteropPing",
                payload: try JSONEncoder().encode(InteropPing(seq: index, from: "swift")))
        }
        let receipts = try await withSpan("interop publish") { span in
            if let context = span.context.inMemorySpanContext { emit(["trace_id": context.traceID, "span_id": context.spanID]) }
            return try await bus.publish(raw: events)
        }
        await bus.close()
        emit(["published": receipts.count])
        if let tracer { emitSpans(of: tracer) }
    }
}

/// What a handler throws for the attempts `--fail-times` fails.
struct InteropFailure: Error, CustomStringConvertible {
    let attempt: UInt32
    var description: String { "failing attempt \(attempt) on purpose" }
}

/// Prints each finished span of `tracer` as a JSON line: name, kind, ids, attributes, status.
func emitSpans(of tracer: W3CInMemoryTracer) {
    for span in tracer.recorder.finishedSpans {
        var attributes: [String: Any] = [:]
        span.attributes.forEach { key, value in
            switch value {
            case .string(let text): attributes[key] = text
            case .int64(let number): attributes[key] = "\(number)"
            case .int32(let number): attributes[key] = "\(number)"
            case .bool(let flag): attributes[key] = "\(flag)"
            case .double(let number): attributes[key] = "\(number)"
            default: attributes[key] = "\(value)"
            }
        }
        emit([
            "span": span.operationName, "kind": "\(span.kind)", "trace_id": span.traceID, "span_id": span.spanID,
            "parent_span_id": span.parentSpanID ?? "", "attributes": attributes, "error": span.status?.code == .error,
            "links": span.links.compactMap { $0.context.inMemorySpanContext?.spanID },
        ])
    }
}

/// A thread-safe counter.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() -> Int {
        count.withLock {
            $0 += 1
            return $0
        }
    }
    var value: Int { count.withLock { $0 } }
}
