import Foundation
import MSSCapture
import MSSWire
import Testing
import TestSupport

/// A real TCP connection between two namespaces, captured by tcpdump, rewritten offline.
@Suite(
    "Rewrite of a real tcpdump capture",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct RealCaptureTests {
    @Test func handshakesOfARealConnectionAreClamped() throws {
        let client = try NetworkNamespace()
        let server = try NetworkNamespace()
        defer {
            client.delete()
            server.delete()
        }
        let link = try VethLink(
            client, server, addressA: "198.51.100.1/24", addressB: "198.51.100.2/24")
        try client.exec(["ip", "addr", "add", "2001:db8:51::1/64", "dev", link.left, "nodad"])
        try server.exec(["ip", "addr", "add", "2001:db8:51::2/64", "dev", link.right, "nodad"])

        let webRoot = FileManager.default.temporaryDirectory.appendingPathComponent("mssclamp-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: webRoot, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: webRoot) }
        try Data(repeating: 0x61, count: 20_000).write(to: webRoot.appendingPathComponent("file"))

        let capture = TemporaryFile(unusedSuffix: ".pcap")
        let tcpdump = try server.spawn(["tcpdump", "-nn", "-U", "--immediate-mode", "-i", link.right, "-w", capture.path, "tcp port 8080"])
        #expect(tcpdump.waitForOutput { $0.contains("listening on") })
        let web = try server.spawn(["python3", "-m", "http.server", "--bind", "::", "--directory", webRoot.path, "8080"])
        defer { web.stop() }
        for url in ["http://198.51.100.2:8080/file", "http://[2001:db8:51::2]:8080/file"] {
            let fetched = try eventually {
                (try client.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", url])).output == "20000"
            }
            #expect(fetched, "\(url)")
        }
        tcpdump.stop(signal: SIGINT)

        let output = TemporaryFile(unusedSuffix: ".pcap")
        let summary = try CaptureRewriter.rewrite(input: capture.path, output: output.path) { buffer, length in
            (MSSRewrite.rewrite(buffer, length: &length, ceilingIPv4: 1360, ceilingIPv6: 1340), nil)
        }
        // Failed connection attempts while the server started also carry SYNs; every SYN and SYN/ACK
        // with MSS 1460 (IPv4) or 1440 (IPv6) must be clamped, everything else left alone.
        let dumpBefore = try Shell.check(["tcpdump", "-nn", "-r", capture.path])
        let synsV4 = dumpBefore.components(separatedBy: "mss 1460").count - 1
        let synsV6 = dumpBefore.components(separatedBy: "mss 1440").count - 1
        #expect(synsV4 >= 2 && synsV6 >= 2, "\(dumpBefore)")
        #expect(summary.outcomes["clamped"] == synsV4 + synsV6)
        #expect(summary.clamps["1460->1360"] == synsV4)
        #expect(summary.clamps["1440->1340"] == synsV6)
        #expect(summary.outcomes["malformed"] == 0)
        #expect(summary.outcomes["not_syn"] == summary.packets - synsV4 - synsV6 - (summary.outcomes["not_tcp"] ?? 0))
        let dumpAfter = try Shell.check(["tcpdump", "-nn", "-vv", "-r", output.path])
        #expect(!dumpAfter.contains("incorrect"), "\(dumpAfter)")
        #expect(dumpAfter.components(separatedBy: "mss 1360").count - 1 == synsV4)
        #expect(dumpAfter.components(separatedBy: "mss 1340").count - 1 == synsV6)
    }
}
