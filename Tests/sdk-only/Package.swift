// swift-tools-version:6.2
// An application that uses only the Ferry SDK, through a path dependency on this repository.
// scripts/check-sdk-dependencies.sh resolves it (it is never built) and fails when SwiftPM
// brings in a package only the server side needs.
import PackageDescription

let package = Package(
    name: "sdk-only",
    dependencies: [.package(name: "ferry", path: "../..")],
    targets: [.target(name: "SDKOnly", dependencies: [.product(name: "Ferry", package: "ferry")])],
    swiftLanguageModes: [.v6]
)
