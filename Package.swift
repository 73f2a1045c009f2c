// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "mssclamp",
    products: [
        .library(name: "MSSWire", targets: ["MSSWire"]),
    ],
    targets: [
        // Pure Swift, zero-copy packet views and the MSS rewrite. Standard library only.
        .target(name: "MSSWire"),




        // Byte fixtures of real stacks' handshakes, shared by the tests, the benchmark and the fuzz corpus.
        .target(name: "WireFixtures", path: "Tests/WireFixtures"),
        .testTarget(name: "MSSWireTests", dependencies: ["MSSWire", "WireFixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
