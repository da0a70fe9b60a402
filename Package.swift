// swift-tools-version:6.2
import PackageDescription

// What another package may depend on. SwiftPM resolves, for a package used as a dependency, the
// packages that any of its products needs, not only those of the products used (it is built
// without target-based dependency resolution, SE-0226). So no product here may reach the
// server's dependencies (GRDB, Yams, HdrHistogram, swift-metrics, …): an app that depends on
// the `Ferry` SDK would resolve them all. ferryd, ferry and ferry-interop therefore are not
// declared products; SwiftPM makes an executable product of each executable target when this
// is the root package (`swift build`, `swift build --product ferryd`, `swift run ferry`).
// scripts/check-sdk-dependencies.sh keeps it so.
var products: [Product] = [
    // The client SDK.
    .library(name: "Ferry", targets: ["Ferry"]),
    // --exit-with-parent and the descriptor limit, for processes built on the SDK.
    .library(name: "FerryLifecycle", targets: ["FerryLifecycle"]),
    // Starts real ferryd processes for integration tests (Examples/OrderSystem's tests use it).
    .library(name: "FerryTestSupport", targets: ["FerryTestSupport"]),
    // For the hot-path benchmarks in Benchmarks/ (a separate package).
    .library(name: "FerryProtocol", targets: ["FerryProtocol"]),
]
// The broker and its storage (GRDB) as libraries, for Benchmarks/ only, and only when asked for
// (FERRY_SERVER_LIBRARIES=1 swift package benchmark), for the reason above.
if Context.environment["FERRY_SERVER_LIBRARIES"] == "1" {
    products += [
        .library(name: "FerryBroker", targets: ["FerryBroker"]),
        .library(name: "FerryStorage", targets: ["FerryStorage"]),
        .library(name: "FerryBrokerTesting", targets: ["FerryBrokerTesting"]),
    ]
}

let package = Package(
    name: "ferry",
    platforms: [.macOS(.v14)],
    products: products,
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        // libzmq from the system (Debian: libzmq3-dev).
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        // What Ferry's dedicated threads share: a queue a poll loop is woken by (a pipe), threads
        // under names the OS shows, the loop-thread type, the monotonic clock, the parent watch.
        .target(name: "FerryRuntime"),
        // A small, thread-confined Swift API over libzmq.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ", "FerryRuntime"]),
        // The NATS C client from the system (Debian: libnats-dev), for the replicated storage on
        // JetStream, and a small Swift API over it.
        .systemLibrary(
            name: "CNATS",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        .target(name: "NATS", dependencies: ["CNATS"]),
        // glibc's mallopt, for ferryd's allocator tuning (libc: nothing to link).
        .systemLibrary(name: "CMalloc"),
        // CRC-32C for log records (SSE4.2 when the CPU has it).
        .target(name: "CCRC32C"),
        // The wire protocol: generated protobuf messages plus framing, limits and errors.
        .target(
            name: "FerryProtocol",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // Event storage behind one interface (in-memory now, the durable log later).
        .target(
            name: "FerryStorage",
            dependencies: ["CCRC32C", "FerryRuntime", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The broker: delivery state machine and the ZeroMQ server loop.
        .target(
            name: "FerryBroker",
            dependencies: [
                "ZeroMQ", "FerryProtocol", "FerryStorage", "FerryRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The real broker core driven in-process by protocol messages on a manual clock.
        .target(
            name: "FerryBrokerTesting",
            dependencies: [
                "FerryBroker", "FerryProtocol", "FerryRuntime", "FerryStorage", .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        // Process plumbing shared by ferryd and processes built on the SDK: exit with the parent.
        .target(
            name: "FerryLifecycle",
            dependencies: ["FerryRuntime", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // The client SDK: typed events, publishing, workers and handler groups.
        .target(
            name: "Ferry",
            dependencies: [
                "ZeroMQ", "FerryProtocol", "FerryRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // ferryd's HTTP API and web console: a client of the broker through the SDK.
        .target(
            name: "FerryHTTP",
            dependencies: [
                "Ferry", "FerryProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "ferryd",
            dependencies: [
                "FerryProtocol", "FerryBroker", "FerryHTTP", "Ferry", "FerryStorage", "FerryLifecycle", "CMalloc", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Publishes or consumes on command, for cross-language tests (clients/python).
        .executableTarget(
            name: "ferry-interop",
            dependencies: [
                "Ferry", "FerryTestSupport",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The load generator behind `ferry bench`: raw protocol over ZeroMQ for its hot paths, and
        // the ferryd processes it loads (started as executables; the storage engine is not linked).
        .target(
            name: "FerryBench",
            dependencies: [
                "ZeroMQ", "FerryProtocol", "FerryRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The ferry command line: publish, tail, groups, DLQ, replay, history and stats on the SDK,
        // and bench (FerryBench).
        .executableTarget(
            name: "ferry",
            dependencies: [
                "Ferry", "FerryBench", "FerryProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Starts real ferryd and worker processes for the integration tests.
        .target(
            name: "FerryTestSupport",
            dependencies: [
                "ZeroMQ", "FerryProtocol", .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            path: "Tests/FerryTestSupport"),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "NATSTests", dependencies: ["NATS", "FerryTestSupport"]),
        .testTarget(name: "FerryRuntimeTests", dependencies: ["FerryRuntime"]),
        .testTarget(
            name: "FerryProtocolTests",
            dependencies: ["FerryProtocol", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(
            name: "FerryStorageTests", dependencies: ["FerryRuntime", "FerryStorage", "FerryTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "FerryBrokerTests",
            dependencies: [
                "FerryBroker", "FerryBrokerTesting", "FerryProtocol", "FerryRuntime", "FerryStorage", "FerryTestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .testTarget(
            name: "FerryTests",
            dependencies: [
                "Ferry", "FerryProtocol", "FerryTestSupport", "ZeroMQ", .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]),
        // Runs the built `ferry` binary against real ferryd processes.
        .testTarget(name: "FerryCLITests", dependencies: ["Ferry", "FerryTestSupport", "ZeroMQ"]),
        // The HTTP API and console against real ferryd processes.
        .testTarget(
            name: "FerryHTTPTests",
            dependencies: [
                "Ferry", "FerryHTTP", "FerryTestSupport", .product(name: "Yams", package: "Yams"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"), .product(name: "Logging", package: "swift-log"),
            ]),
        // Runs `ferry bench` against real ferryd processes.
        .testTarget(name: "FerryBenchTests", dependencies: ["FerryTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

// The upcoming-feature flags that keep imports honest (as Hummingbird does): a file uses only the
// modules it imports, an import is internal unless a public declaration needs it (`public
// import`), and existential types are spelled `any`.
for target in package.targets where target.type != .system {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .enableUpcomingFeature("ExistentialAny"),
            .enableUpcomingFeature("MemberImportVisibility"),
            .enableUpcomingFeature("InternalImportsByDefault"),
        ]
}
