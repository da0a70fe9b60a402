import FerryProtocol
import Tracing

/// Distributed tracing of events, through swift-distributed-tracing and the OpenTelemetry
/// messaging conventions: a producer span per published event, whose context travels in the
/// event's headers (W3C `traceparent`/`tracestate` with an OpenTelemetry tracer), and a consumer
/// "process" span around each handler run, a child of the producer span and linked to it.
///
/// With no tracer bootstrapped (or bound with `withTracer`), nothing is created or injected.
enum MessagingTracing {
    /// The active tracer, or nil when it is the no-op one.
    static var activeTracer: (any Tracer)? {
        let tracer = InstrumentationSystem.tracer
        return tracer is NoOpTracer ? nil : tracer
    }

    /// Starts the producer span of `event` (a child of the current span) and injects its context
    /// into the event's headers, unless the publisher set a `traceparent` of its own.
    static func startProducerSpan(for event: inout WireEvent, tracer: any Tracer) -> any Span {
        let span = tracer.startAnySpan("send \(event.topic)", context: InstrumentationContext.current ?? .topLevel, ofKind: .producer)
        span.updateAttributes { attributes in
            attributes["messaging.system"] = "ferry"
            attributes["messaging.operation.type"] = "send"
            attributes["messaging.operation.name"] = "publish"
            attributes["messaging.destination.name"] = event.topic
            attributes["messaging.message.id"] = event.id
            if !event.correlationID.isEmpty { attributes["messaging.message.conversation_id"] = event.correlationID }
            if !event.key.isEmpty { attributes["ferry.event.key"] = event.key }
        }
        if event.headers["traceparent"] == nil {
            tracer.inject(span.context, into: &event.headers, using: HeaderInjector())
        }
        return span
    }

    /// Runs `body` in the consumer span of a delivery of `event` to `group`: a child of the span
    /// that published it (from its headers) and linked to it. A thrown error is recorded.
    static func process<T>(
        _ event: WireEvent, group: String, attempt: UInt32, tracer: any Tracer, _ body: () async throws -> T
    ) async throws -> T {
        var producer = InstrumentationContext.topLevel
        tracer.extract(event.headers, into: &producer, using: HeaderExtractor())
        let span = tracer.startAnySpan("process \(event.topic)", context: producer, ofKind: .consumer)
        span.addLink(SpanLink(context: producer, attributes: [:]))
        span.updateAttributes { attributes in
            attributes["messaging.system"] = "ferry"
            attributes["messaging.operation.type"] = "process"
            attributes["messaging.operation.name"] = "process"
            attributes["messaging.destination.name"] = event.topic
            attributes["messaging.consumer.group.name"] = group
            attributes["messaging.message.id"] = event.id
            if !event.correlationID.isEmpty { attributes["messaging.message.conversation_id"] = event.correlationID }
            attributes["ferry.delivery.attempt"] = Int(attempt)
        }
        return try await run(body, in: span)
    }

    /// Runs `body` with `span` as the current span, records what it throws, and ends the span.
    private static func run<T>(_ body: () async throws -> T, in span: any Span) async throws -> T {
        defer { span.end() }
        do {
            return try await InstrumentationContext.withValue(span.context) { try await body() }
        } catch {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error, message: "\(error)"))
            throw error
        }
    }

    /// Runs `body` in one consumer span for a batch: linked to each event's producer span.
    static func processBatch<T>(
        _ events: [WireEvent], group: String, attempt: UInt32, tracer: any Tracer, _ body: () async throws -> T
    ) async throws -> T {
        let topic = events.first?.topic ?? ""
        let span = tracer.startAnySpan("process \(topic)", context: InstrumentationContext.current ?? .topLevel, ofKind: .consumer)
        for event in events {
            var producer = InstrumentationContext.topLevel
            tracer.extract(event.headers, into: &producer, using: HeaderExtractor())
            span.addLink(SpanLink(context: producer, attributes: [:]))
        }
        span.updateAttributes { attributes in
            attributes["messaging.system"] = "ferry"
            attributes["messaging.operation.type"] = "process"
            attributes["messaging.operation.name"] = "process"
            attributes["messaging.destination.name"] = topic
            attributes["messaging.consumer.group.name"] = group
            attributes["messaging.batch.message_count"] = events.count
            attributes["ferry.delivery.attempt"] = Int(attempt)
        }
        return try await run(body, in: span)
    }

    struct HeaderInjector: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }

    struct HeaderExtractor: Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    }
}
