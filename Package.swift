// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "mssclamp",
    products: [
        .executable(name: "mssclamp", targets: ["mssclamp"]),
        .library(name: "MSSWire", targets: ["MSSWire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Pure Swift, zero-copy packet views and the MSS rewrite. Standard library only.
        .target(name: "MSSWire"),

        // libpcap for reading pcap/pcapng and writing pcap.
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .target(name: "MSSCapture", dependencies: ["CPcap", "MSSWire"]),

        .executableTarget(
            name: "mssclamp",
            dependencies: [
                "MSSWire", "MSSCapture",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Benchmarks: the C baseline of the rewrite and the release-built runner behind `scripts/bench wire`.
        .target(name: "CWireBaseline", path: "Benchmarks/CWireBaseline"),
        .executableTarget(
            name: "mssclamp-bench",
            dependencies: ["MSSWire", "CWireBaseline", "WireFixtures"],
            path: "Benchmarks/WireBench"),

        // Byte fixtures of real stacks' handshakes, shared by the tests, the benchmark and the fuzz corpus.
        .target(name: "WireFixtures", path: "Tests/WireFixtures"),
        .testTarget(name: "MSSWireTests", dependencies: ["MSSWire", "WireFixtures"]),
        // Helpers for tests that run real programs: processes, namespaces, veth links, built binaries.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "MSSCaptureTests",
            dependencies: ["MSSCapture", "MSSWire", "WireFixtures", "TestSupport", "mssclamp"]),
    ],
    swiftLanguageModes: [.v6]
)
