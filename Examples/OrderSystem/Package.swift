// swift-tools-version:6.2
// The order system: a package of its own that uses Ferry as any application would, through the
// root package's library products (the `Ferry` SDK and `FerryLifecycle`; `FerryTestSupport` for
// its tests), so nothing here can reach into the broker, and its dependencies (Hummingbird, GRDB)
// never become the SDK's. Its tests and `order-system run` start the ferryd the root package
// builds: run `swift build` at the root first (scripts/test.sh and scripts/demo.sh do).
import PackageDescription

let ferry: [Target.Dependency] = [.product(name: "Ferry", package: "ferry")]
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let grdb: Target.Dependency = .product(name: "GRDB", package: "GRDB.swift")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
/// The workers that keep their state in SQLite and use the SDK and swift-log directly.
let statefulWorker: [Target.Dependency] = ferry + ["OrderEvents", "OrderSystemKit", argumentParser, grdb, logging]

let package = Package(
    name: "OrderSystem",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "order-system", targets: ["order-system"]),
        .executable(name: "orders-api", targets: ["orders-api"]),
        .executable(name: "inventory-worker", targets: ["inventory-worker"]),
        .executable(name: "payment-worker", targets: ["payment-worker"]),
        .executable(name: "fulfillment-worker", targets: ["fulfillment-worker"]),
        .executable(name: "email-worker", targets: ["email-worker"]),
        .executable(name: "notification-worker", targets: ["notification-worker"]),
        .executable(name: "audit-worker", targets: ["audit-worker"]),
        .executable(name: "analytics-worker", targets: ["analytics-worker"]),
    ],
    dependencies: [
        .package(name: "ferry", path: "../.."),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // The order events, generated from proto/orders (re-exports Ferry and SwiftProtobuf).
        .target(name: "OrderEvents", dependencies: ferry + [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // What every process shares: options, the worker host, state databases, child processes.
        .target(
            name: "OrderSystemKit",
            dependencies: ferry + [
                "OrderEvents", argumentParser, grdb, logging,
                .product(name: "FerryLifecycle", package: "ferry"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "orders-api",
            dependencies: ferry + [
                "OrderEvents", "OrderSystemKit", argumentParser, grdb, logging,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "inventory-worker", dependencies: statefulWorker),
        .executableTarget(name: "payment-worker", dependencies: statefulWorker),
        .executableTarget(name: "fulfillment-worker", dependencies: statefulWorker),
        .executableTarget(name: "email-worker", dependencies: ["OrderEvents", "OrderSystemKit", argumentParser, logging]),
        .executableTarget(name: "notification-worker", dependencies: ["OrderEvents", "OrderSystemKit", argumentParser, grdb]),
        .executableTarget(name: "audit-worker", dependencies: ["OrderEvents", "OrderSystemKit", argumentParser, grdb]),
        .executableTarget(name: "analytics-worker", dependencies: ["OrderEvents", "OrderSystemKit", argumentParser, grdb, logging]),
        // The demo runner: ferryd (the root package's), every worker, the API and demo traffic.
        .executableTarget(name: "order-system", dependencies: ferry + ["OrderEvents", "OrderSystemKit", argumentParser, logging]),
        // End to end: ferryd, the workers and orders-api as real processes.
        .testTarget(
            name: "OrderSystemTests",
            dependencies: ferry + ["OrderEvents", "OrderSystemKit", grdb, .product(name: "FerryTestSupport", package: "ferry")]
        ),
        .testTarget(
            name: "OrderWorkersTests",
            dependencies: ferry + ["OrderEvents", "OrderSystemKit", grdb, .product(name: "FerryTestSupport", package: "ferry")]
        ),
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
