// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "ferry",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Ferry", targets: ["Ferry"]),
        .library(name: "FerryBroker", targets: ["FerryBroker"]),
        // The broker core embedded in-process on a manual clock, for tests of broker logic.
        .library(name: "FerryBrokerTesting", targets: ["FerryBrokerTesting"]),
        // For the hot-path benchmarks in Benchmarks/ (a separate package).
        .library(name: "FerryProtocol", targets: ["FerryProtocol"]),
        .library(name: "FerryStorage", targets: ["FerryStorage"]),
        .library(name: "FerryLifecycle", targets: ["FerryLifecycle"]),
        .executable(name: "ferryd", targets: ["ferryd"]),
        .executable(name: "ferry-interop", targets: ["ferry-interop"]),
        .executable(name: "ferry", targets: ["ferry"]),
        .executable(name: "email-worker", targets: ["email-worker"]),
        .executable(name: "notification-worker", targets: ["notification-worker"]),
        .executable(name: "audit-worker", targets: ["audit-worker"]),
        .executable(name: "analytics-worker", targets: ["analytics-worker"]),
        .executable(name: "orders-api", targets: ["orders-api"]),
        .executable(name: "order-system", targets: ["order-system"]),
        .executable(name: "inventory-worker", targets: ["inventory-worker"]),
        .executable(name: "payment-worker", targets: ["payment-worker"]),
        .executable(name: "fulfillment-worker", targets: ["fulfillment-worker"]),
    ],
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
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The real broker core driven in-process by protocol messages on a manual clock.
        .target(
            name: "FerryBrokerTesting",
            dependencies: ["FerryBroker", "FerryProtocol", "FerryRuntime", "FerryStorage", .product(name: "Logging", package: "swift-log")]
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
            ]
        ),
        .executableTarget(
            name: "ferryd",
            dependencies: [
                "FerryBroker", "FerryStorage", "FerryLifecycle",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Publishes or consumes on command, for cross-language tests (clients/python).
        .executableTarget(
            name: "ferry-interop",
            dependencies: [
                "Ferry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The ferry command line: publish, tail, groups, DLQ, replay, history, stats and bench.
        .executableTarget(
            name: "ferry",
            dependencies: [
                "Ferry", "ZeroMQ", "FerryProtocol", "FerryStorage", "FerryRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The order system (Examples/OrderSystem): events, shared process plumbing, API and workers,
        // built only on the public SDK.
        .target(
            name: "OrderEvents",
            dependencies: ["Ferry", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Examples/OrderSystem/Sources/OrderEvents"
        ),
        .target(
            name: "OrderSystemKit",
            dependencies: [
                "Ferry", "OrderEvents", "FerryLifecycle",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Examples/OrderSystem/Sources/OrderSystemKit"
        ),
        .executableTarget(
            name: "email-worker",
            dependencies: [
                "OrderEvents", "OrderSystemKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Examples/OrderSystem/Sources/email-worker"
        ),
        .executableTarget(
            name: "notification-worker",
            dependencies: [
                "OrderEvents", "OrderSystemKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Examples/OrderSystem/Sources/notification-worker"
        ),
        .executableTarget(
            name: "audit-worker",
            dependencies: [
                "OrderEvents", "OrderSystemKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Examples/OrderSystem/Sources/audit-worker"
        ),
        .executableTarget(
            name: "analytics-worker",
            dependencies: [
                "OrderEvents", "OrderSystemKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Examples/OrderSystem/Sources/analytics-worker"
        ),
        .executableTarget(
            name: "orders-api",
            dependencies: [
                "OrderEvents", "OrderSystemKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Examples/OrderSystem/Sources/orders-api"
        ),
        .executableTarget(
            name: "inventory-worker",
            dependencies: ["OrderEvents", "OrderSystemKit", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Examples/OrderSystem/Sources/inventory-worker"
        ),
        .executableTarget(
            name: "payment-worker",
            dependencies: ["OrderEvents", "OrderSystemKit", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Examples/OrderSystem/Sources/payment-worker"
        ),
        .executableTarget(
            name: "fulfillment-worker",
            dependencies: ["OrderEvents", "OrderSystemKit", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Examples/OrderSystem/Sources/fulfillment-worker"
        ),
        .executableTarget(
            name: "order-system",
            dependencies: [
                "OrderEvents", "OrderSystemKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/OrderSystem/Sources/order-system"
        ),
        // Starts real ferryd and worker processes for the integration tests.
        .target(name: "FerryTestSupport", dependencies: ["ZeroMQ", "FerryProtocol"], path: "Tests/FerryTestSupport"),
        .testTarget(
            name: "OrderSystemTests",
            dependencies: ["Ferry", "OrderSystemKit", "FerryTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Examples/OrderSystem/Tests/OrderSystemTests"
        ),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "FerryRuntimeTests", dependencies: ["FerryRuntime"]),
        .testTarget(name: "FerryProtocolTests", dependencies: ["FerryProtocol"]),
        .testTarget(
            name: "FerryStorageTests", dependencies: ["FerryStorage", "FerryTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "FerryBrokerTests", dependencies: ["FerryBroker", "FerryBrokerTesting", "FerryProtocol", "FerryStorage", "FerryTestSupport", "ZeroMQ"]),
        .testTarget(name: "FerryTests", dependencies: ["Ferry", "FerryTestSupport"]),
        // Runs the built `ferry` binary against real ferryd processes.
        .testTarget(name: "FerryCLITests", dependencies: ["Ferry", "FerryTestSupport"]),
        // Runs `ferry bench` against real ferryd processes.
        .testTarget(name: "FerryBenchTests", dependencies: ["FerryTestSupport"]),
        .testTarget(
            name: "OrderWorkersTests",
            // Ferry directly, not only through OrderEvents' re-export: SwiftPM then rebuilds these
            // tests when an SDK type changes.
            dependencies: ["Ferry", "OrderEvents", "OrderSystemKit", "FerryTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Examples/OrderSystem/Tests/OrderWorkersTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
