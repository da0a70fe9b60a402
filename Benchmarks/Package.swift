// swift-tools-version: 6.1
// Micro-benchmarks of Ferry's hot paths with ordo-one/benchmark. A separate package, so that
// building and testing the root package never builds it. The root declares the FerryBroker and
// FerryStorage libraries only when FERRY_SERVER_LIBRARIES=1 is set. Run from this directory:
//   FERRY_SERVER_LIBRARIES=1 swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "FerryBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "ferry", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FerryProtocol", package: "ferry"),
                .product(name: "FerryStorage", package: "ferry"),
                .product(name: "FerryBroker", package: "ferry"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
