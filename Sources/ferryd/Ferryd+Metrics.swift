import Prometheus

extension Ferryd {
    /// Buckets for the broker's duration histograms: fsyncs and confirms take from tens of
    /// microseconds (a fast SSD, a group commit) to seconds (a disk in trouble), well below
    /// the library's default first bucket of 5 ms.
    static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
    ]

    /// The Prometheus backend of swift-metrics, writing to `registry` (served at `/metrics`
    /// and in `Stats`).
    static func metricsFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        return factory
    }
}
