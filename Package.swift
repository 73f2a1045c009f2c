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
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // Pure Swift, zero-copy packet views and the MSS rewrite. Standard library only.
        .target(name: "MSSWire"),

        // libpcap for reading pcap/pcapng and writing pcap.
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .target(name: "MSSCapture", dependencies: ["CPcap", "MSSWire"]),

        // The policy: ceilings per family (and per peer), the decision for each packet, the clamp engine.
        .target(name: "MSSPolicy", dependencies: ["MSSWire"]),
        // The one place that starts other programs: posix_spawn, poll, deadlines; no Foundation Process.
        .target(name: "MSSProcess"),
        // The firewall: iptables/ip6tables and nftables rendering, apply, verify, remove; the safety net; import.
        .target(name: "MSSRules", dependencies: ["MSSPolicy", "MSSProcess", "MSSWire"]),

        // libnetfilter_queue + libmnl for binding and configuring queues (MSSQueue only).
        .systemLibrary(
            name: "CNetfilterQueue", pkgConfig: "libnetfilter_queue",
            providers: [.apt(["libnetfilter-queue-dev", "libmnl-dev"])]),
        // What Swift cannot import or call (recvmmsg, accept4, SO_PEERCRED, capset, prctl): for MSSQueue and
        // MSSSystem only.
        .target(name: "CMSSClampShim"),
        // The NFQUEUE socket: bind, configure, batched receive, batched verdicts.
        .target(name: "MSSQueue", dependencies: ["CMSSClampShim", "CNetfilterQueue"]),
        // The system calls Swift cannot make on its own, as Swift with typed errors: peer credentials, netlink
        // subscriptions, accept4, the capability drop, resource limits, thread names; and the monotonic clock.
        .target(name: "MSSSystem", dependencies: ["CMSSClampShim"]),
        // The control protocol, its client, and the counter table the daemon reports: what `mssclamp stats`,
        // `peer` and `reload` need without the daemon.
        .target(name: "MSSControl", dependencies: ["MSSPolicy", "MSSSystem", "MSSWire"]),
        // charon's VICI protocol: messages, packets, a client session, and the CHILD_SAs in its reports.
        .target(name: "MSSVICI", dependencies: ["MSSPolicy", "MSSSystem"]),
        // `mssclamp run`, in rooms along the flow: DataPlane (workers), Peers (policy, sources, auto ceilings),
        // RuleUpkeep (rules kept in the kernel), Servers (control socket, metrics), Runtime (start, loop, stop).
        .target(
            name: "MSSDaemon",
            dependencies: [
                "MSSControl", "MSSQueue", "MSSPolicy", "MSSRules", "MSSWire", "MSSProbe", "MSSProcess", "MSSSystem",
                "MSSVICI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),

        // `mssclamp probe`: path MTU by DF bisection over raw ICMP sockets.
        .target(name: "MSSProbe", dependencies: ["MSSWire"]),
        // `mssclamp bench` and `mssclamp lab`: throwaway namespace labs, a SYN generator, the black-hole demo.
        .target(name: "MSSLab", dependencies: ["MSSProcess", "MSSSystem", "MSSWire"]),

        .executableTarget(
            name: "mssclamp",
            dependencies: [
                "MSSWire", "MSSCapture", "MSSPolicy", "MSSRules", "MSSQueue", "MSSControl", "MSSDaemon", "MSSProbe",
                "MSSSystem", "MSSLab",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Benchmarks: the C baseline of the rewrite and the release-built runner behind `scripts/bench wire`.
        .target(name: "CWireBaseline", path: "Benchmarks/CWireBaseline"),
        .executableTarget(
            name: "mssclamp-bench",
            dependencies: ["MSSWire", "CWireBaseline", "WireFixtures"],
            path: "Benchmarks/WireBench"),
        // `scripts/bench policy`: the prefix table against a plain binary trie.
        .executableTarget(
            name: "mssclamp-policy-bench", dependencies: ["MSSPolicy", "WireFixtures"], path: "Benchmarks/PolicyBench"),
        // The C NFQUEUE consumer `scripts/bench queue` compares mssclamp run against.
        .executableTarget(
            name: "queue-baseline", dependencies: ["CWireBaseline"], path: "Benchmarks/QueueBaseline",
            linkerSettings: [.linkedLibrary("netfilter_queue"), .linkedLibrary("mnl")]),

        // Byte fixtures of real stacks' handshakes, shared by the tests, the benchmark and the fuzz corpus.
        .target(name: "WireFixtures", path: "Tests/WireFixtures"),
        .testTarget(name: "MSSWireTests", dependencies: ["MSSWire", "WireFixtures"]),
        .testTarget(name: "MSSQueueTests", dependencies: ["MSSQueue"]),
        .testTarget(name: "MSSSystemTests", dependencies: ["MSSSystem"]),
        .testTarget(name: "MSSRulesTests", dependencies: ["MSSRules", "MSSPolicy", "MSSWire"]),
        .testTarget(name: "MSSProcessTests", dependencies: ["MSSProcess"]),
        .testTarget(name: "MSSVICITests", dependencies: ["MSSVICI", "MSSPolicy", "MSSSystem", "VICITestSupport"]),
        .testTarget(
            name: "MSSDaemonTests",
            dependencies: [
                "MSSControl", "MSSDaemon", "MSSProbe", "MSSQueue", "MSSSystem", "MSSVICI", "MSSWire", "TestSupport",
                "VICITestSupport",
            ]),
        .testTarget(name: "MSSPolicyTests", dependencies: ["MSSPolicy", "MSSWire", "WireFixtures", "TestSupport"]),
        // Helpers for tests that run real programs: processes, namespaces, veth links, built binaries.
        // Only MSSProcess, so that scripts/mutants can copy it with the modules it mutates.
        .target(name: "TestSupport", dependencies: ["MSSProcess"], path: "Tests/TestSupport"),
        // charon's side of VICI for the tests: its messages as 5.9.8 sends them, and a scripted charon.
        .target(name: "VICITestSupport", dependencies: ["MSSSystem", "MSSVICI"], path: "Tests/VICITestSupport"),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport", "mssclamp"]),
        .testTarget(
            name: "MSSCaptureTests",
            dependencies: ["MSSCapture", "MSSWire", "WireFixtures", "TestSupport", "mssclamp"]),
    ],
    swiftLanguageModes: [.v6]
)
