// swift-tools-version:6.2
import PackageDescription

// Exporting the Ferry SDK's spans with swift-otel: a package of its own, so that an application
// that depends on the Ferry SDK does not build swift-otel (and its HTTP client) unless it asks
// for this. Only the OTLP/HTTP exporter is built (swift-otel's OTLPHTTP trait).
let package = Package(
    name: "ferry-opentelemetry",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "FerryOpenTelemetry", targets: ["FerryOpenTelemetry"])
    ],
    dependencies: [
        .package(name: "ferry", path: "../.."),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "FerryOpenTelemetry",
            dependencies: [
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A publisher and a handler in one process, exporting their spans: what test.sh checks.
        .executableTarget(
            name: "traced-checkout",
            dependencies: [
                "FerryOpenTelemetry",
                .product(name: "Ferry", package: "ferry"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
