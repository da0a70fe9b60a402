import OTel
public import ServiceLifecycle

/// OpenTelemetry export for processes built on the Ferry SDK.
///
/// The SDK makes its spans through swift-distributed-tracing: a producer span per published
/// event (its W3C context travels in the event's headers) and a consumer span per handler
/// attempt. They go nowhere until a tracer is bootstrapped; this bootstraps swift-otel's, with
/// the W3C Trace Context propagator (`traceparent`, `tracestate`) that Ferry's other clients (Python's opentelemetry) use,
/// and an OTLP/HTTP exporter. Only tracing is set up: the process keeps its own logging and
/// metrics backends.
public enum FerryOpenTelemetry {
    /// Bootstraps tracing for this process and returns the service that exports spans in
    /// batches; run it in the process's `ServiceGroup` (it exports what is left on a graceful
    /// shutdown). Call it once, before the first publish.
    ///
    /// - Parameters:
    ///   - serviceName: the `service.name` resource attribute, e.g. `email-worker`.
    ///   - endpoint: the collector's OTLP/HTTP base URL (`http://collector:4318`); nil takes
    ///     `OTEL_EXPORTER_OTLP_ENDPOINT`, else `http://localhost:4318`.
    ///   - scheduleDelay: how often batches of finished spans are exported.
    public static func bootstrapTracing(
        serviceName: String, endpoint: String? = nil, scheduleDelay: Duration = .seconds(5)
    ) throws -> some Service {
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.propagators = [.traceContext]
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.batchSpanProcessor.scheduleDelay = scheduleDelay
        if let endpoint {
            configuration.traces.otlpExporter.endpoint = endpoint.hasSuffix("/v1/traces") ? endpoint : endpoint + "/v1/traces"
        }
        return try OTel.bootstrap(configuration: configuration)
    }
}
