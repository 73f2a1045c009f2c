import Foundation
import MSSCapture
import MSSWire
import Testing
import TestSupport
import WireFixtures

/// Link headers for each supported link type, in front of an IP packet.
enum Framing: String, CaseIterable, Sendable {
    case ethernet, ethernetVLAN, raw, linuxCooked, linuxCooked2

    var dlt: Int32 {
        switch self {
        case .ethernet, .ethernetVLAN: 1
        case .raw: 12
        case .linuxCooked: 113
        case .linuxCooked2: 276
        }
    }

    func header(for packet: [UInt8]) -> [UInt8] {
        let etherType: [UInt8] = packet[0] >> 4 == 4 ? [0x08, 0x00] : [0x86, 0xdd]
        let macs: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]
        switch self {
        case .ethernet: return macs + etherType
        case .ethernetVLAN: return macs + [0x81, 0x00, 0x00, 0x2a] + etherType  // VLAN 42
        case .raw: return []
        case .linuxCooked:
            // Packet type (sent by us), ARPHRD_ETHER, address length, address (8), protocol.
            return [0, 4, 0, 1, 0, 6] + [0x02, 0, 0, 0, 0, 0x01, 0, 0] + etherType
        case .linuxCooked2:
            // Protocol, reserved, interface index, ARPHRD_ETHER, packet type, address length, address (8).
            return etherType + [0, 0] + [0, 0, 0, 2] + [0, 1] + [4] + [6] + [0x02, 0, 0, 0, 0, 0x01, 0, 0]
        }
    }
}

/// Writes `frames` to a new pcap file with libpcap.
func writeCapture(_ frames: [[UInt8]], dlt: Int32) throws -> TemporaryFile {
    let file = TemporaryFile(unusedSuffix: ".pcap")
    let writer = try PcapWriter(path: file.path, dlt: dlt, snapshotLength: 65_535, nanosecondPrecision: false)
    for (index, frame) in frames.enumerated() {
        frame.withUnsafeBytes {
            writer.write(seconds: 1_700_000_000 + index, subseconds: index * 1000, originalLength: frame.count, bytes: $0)
        }
    }
    try writer.finish()
    return file
}

/// Reads every record of a capture back.
func readCapture(_ path: String) throws -> [[UInt8]] {
    let reader = try PcapReader(path: path)
    var frames: [[UInt8]] = []
    while let record = try reader.next() { frames.append(Array(record.bytes)) }
    return frames
}

/// The engine alone on one packet: the oracle for what the capture rewrite must write.
func engine(_ packet: [UInt8]) -> (RewriteOutcome, [UInt8]) {
    var bytes = packet
    let outcome = MSSRewrite.rewrite(&bytes, ceilingIPv4: 1360, ceilingIPv6: 1340)
    return (outcome, bytes)
}

func rewriteWithDefaults(_ input: String, _ output: String) throws(CaptureError) -> CaptureSummary {
    try CaptureRewriter.rewrite(input: input, output: output) { buffer, length in
        (MSSRewrite.rewrite(buffer, length: &length, ceilingIPv4: 1360, ceilingIPv6: 1340), nil)
    }
}

/// Files in the directory of `path` whose names start with its file name (the output or a temporary).
func leftovers(of path: String) -> [String] {
    let url = URL(fileURLWithPath: path)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)) ?? []
    return names.filter { $0.hasPrefix(url.lastPathComponent) }
}

@Suite("Offline capture rewrite")
struct CaptureRewriteTests {
    @Test(arguments: Framing.allCases)
    func everyLinkTypeIsRewrittenByTheEngine(framing: Framing) throws {
        let packets = Fixtures.all.map(\.bytes)
        var frames = packets.map { framing.header(for: $0) + $0 }
        if framing == .ethernet {
            // An ARP request: not IP, written unchanged.
            frames.append([UInt8](repeating: 0xff, count: 6) + [0x02, 0, 0, 0, 0, 1, 0x08, 0x06] + [UInt8](repeating: 0, count: 28))
        }
        let input = try writeCapture(frames, dlt: framing.dlt)
        let output = TemporaryFile(unusedSuffix: ".pcap")
        let summary = try rewriteWithDefaults(input.path, output.path)

        let written = try readCapture(output.path)
        #expect(written.count == frames.count)
        #expect(summary.packets == frames.count)
        #expect(summary.notIP == (framing == .ethernet ? 1 : 0))
        var expectedOutcomes: [String: Int] = [:]
        for (index, packet) in packets.enumerated() {
            let (outcome, expected) = engine(packet)
            expectedOutcomes[outcome.kind.description, default: 0] += 1
            let header = framing.header(for: packet)
            #expect(Array(written[index].prefix(header.count)) == header, "link header kept")
            #expect(Array(written[index].dropFirst(header.count)) == expected, "\(Fixtures.all[index].name)")
        }
        if framing == .ethernet { #expect(written.last == frames.last) }
        for (kind, count) in expectedOutcomes { #expect(summary.outcomes[kind] == count, "\(kind)") }
        #expect(summary.clamps["1460->1360"] == 8)  // 7 packets, the two-MSS SYN counts both options
        #expect(summary.clamps["1440->1340"] == 3)
        #expect(summary.inserted["536"] == 2)
        #expect(leftovers(of: output.path) == [output.url.lastPathComponent])
    }

    @Test func pcapngInputIsRead() throws {
        let packets = [Fixtures.linuxSYN, Fixtures.linuxSYNACKv6]
        let input = TemporaryFile(unusedSuffix: ".pcapng")
        try Data(PcapNG.file(linkType: 1, frames: packets.map { Framing.ethernet.header(for: $0) + $0 })).write(to: input.url)
        let output = TemporaryFile(unusedSuffix: ".pcap")
        let summary = try rewriteWithDefaults(input.path, output.path)
        #expect(summary.packets == 2)
        #expect(summary.outcomes["clamped"] == 2)
        let written = try readCapture(output.path)
        #expect(Array(written[0].dropFirst(14)) == engine(Fixtures.linuxSYN).1)
        #expect(Array(written[1].dropFirst(14)) == engine(Fixtures.linuxSYNACKv6).1)
    }

    @Test func missingInputIsNoInput() throws {
        let output = TemporaryFile(unusedSuffix: ".pcap")
        #expect(throws: CaptureError.self) { try rewriteWithDefaults("/nonexistent/in.pcap", output.path) }
        do {
            _ = try rewriteWithDefaults("/nonexistent/in.pcap", output.path)
        } catch {
            #expect(error.exitCode == 66)
        }
        #expect(leftovers(of: output.path).isEmpty)
    }

    @Test func garbageAndUnsupportedAndDamagedCapturesAreBadData() throws {
        let garbage = try TemporaryFile(suffix: ".pcap")
        try Data("this is not a capture file at all".utf8).write(to: garbage.url)
        let wifi = try writeCapture([[1, 2, 3, 4]], dlt: 105)  // IEEE 802.11
        let good = try writeCapture([Fixtures.linuxSYN, Fixtures.linuxSYNACK], dlt: 12)
        let cut = try TemporaryFile(suffix: ".pcap")
        let bytes = try Data(contentsOf: good.url)
        try bytes.prefix(bytes.count - 10).write(to: cut.url)  // the second record ends early

        for input in [garbage, wifi, cut] {
            let output = TemporaryFile(unusedSuffix: ".pcap")
            do {
                _ = try rewriteWithDefaults(input.path, output.path)
                Issue.record("\(input.path) was accepted")
            } catch {
                #expect(error.exitCode == 65, "\(error)")
            }
            #expect(leftovers(of: output.path).isEmpty, "no partial output for \(input.path)")
        }
    }

    @Test func unwritableOutputFails() throws {
        let input = try writeCapture([Fixtures.linuxSYN], dlt: 12)
        do {
            _ = try rewriteWithDefaults(input.path, "/nonexistent-dir/out.pcap")
            Issue.record("wrote into a missing directory")
        } catch {
            #expect(error.exitCode == 73)
        }
    }
}

@Suite("mssclamp rewrite, the command")
struct RewriteCommandTests {
    @Test func summaryAndJSON() throws {
        let input = try writeCapture(Fixtures.all.map { Framing.ethernet.header(for: $0.bytes) + $0.bytes }, dlt: 1)
        let output = TemporaryFile(unusedSuffix: ".pcap")
        let text = try Shell.run([BuiltProducts.mssclamp, "rewrite", "--mss", "1360", input.path, output.path])
        #expect(text.status == 0, "\(text.error)")
        #expect(text.output.contains("12 packets read"))
        #expect(text.output.contains("clamped") && text.output.contains("1460->1360: 8"))

        let jsonOutput = TemporaryFile(unusedSuffix: ".pcap")
        let json = try Shell.run([
            BuiltProducts.mssclamp, "rewrite", "--mss", "1300", "--mss6", "1280", "--no-insert", "--json",
            input.path, jsonOutput.path,
        ])
        #expect(json.status == 0, "\(json.error)")
        let summary = try JSONDecoder().decode(CaptureSummary.self, from: Data(json.output.utf8))
        #expect(summary.packets == 12)
        #expect(summary.outcomes["clamped"] == 10)
        #expect(summary.outcomes["missing_mss"] == 2)
        #expect(summary.missingMSS["insertion disabled"] == 2)
        #expect(summary.clamps["1440->1280"] == 3)
    }

    /// `rewrite --config` applies the daemon's per-peer policy to a capture: the bundled handshakes come
    /// from 198.51.100.10 (peer "client", 1300) to 203.0.113.20 (no peer: defaults 1400/"none").
    @Test func policyFileAppliesPerPeer() throws {
        let config = TemporaryFile(unusedSuffix: ".toml")
        try """
            [defaults]
            mss4 = 1400
            mss6 = "none"

            [[peer]]
            name = "client"
            match = ["198.51.100.10/32"]
            mss = 1300
            mss6 = "none"
            """.write(toFile: config.path, atomically: true, encoding: .utf8)
        let output = TemporaryFile(unusedSuffix: ".pcap")
        let input = Repository.root.appendingPathComponent("examples/handshakes.pcap").path
        let result = try Shell.run([BuiltProducts.mssclamp, "rewrite", "--config", config.path, "--json", input, output.path])
        #expect(result.status == 0, "\(result.error)")
        let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] ?? [:]
        // Every IPv4 SYN and SYN/ACK involves the client: 1300 wins over the defaults' 1400. Eight MSS
        // options in seven packets (one SYN carries two).
        #expect((json["clamps"] as? [String: Int])?["1460->1300"] == 8, "\(result.output)")
        let peers = json["peers"] as? [String: [String: Int]] ?? [:]
        #expect(peers["client"]?["clamped"] == 7 && peers["client"]?["inserted"] == 2, "\(peers)")
        // IPv6: no clamp anywhere, so exempt.
        #expect((json["outcomes"] as? [String: Int])?["exempt"] == 3, "\(result.output)")
        let bad = try Shell.run([BuiltProducts.mssclamp, "rewrite", "--config", "/nonexistent.toml", input, output.path])
        #expect(bad.status == 65 && bad.error.contains("/nonexistent.toml"), "\(bad.error)")
    }

    @Test func exitCodes() throws {
        let input = try writeCapture([Fixtures.linuxSYN], dlt: 12)
        let output = TemporaryFile(unusedSuffix: ".pcap")
        let missing = try Shell.run([BuiltProducts.mssclamp, "rewrite", "--mss", "1360", "/nonexistent.pcap", output.path])
        #expect(missing.status == 66)
        #expect(missing.error.contains("cannot read /nonexistent.pcap"))
        let wifi = try writeCapture([[1, 2, 3]], dlt: 105)
        let unsupported = try Shell.run([BuiltProducts.mssclamp, "rewrite", "--mss", "1360", wifi.path, output.path])
        #expect(unsupported.status == 65)
        #expect(unsupported.error.contains("link type"))
        let usage = try Shell.run([BuiltProducts.mssclamp, "rewrite", "--mss", "40", input.path, output.path])
        #expect(usage.status == 64)
        #expect(usage.error.contains("--mss"))
        #expect(leftovers(of: output.path).isEmpty)
    }

    @Test(.enabled(if: Shell.has("tcpdump"), "tcpdump is not installed"))
    func tcpdumpFindsNoBadChecksums() throws {
        let input = try writeCapture(Fixtures.all.map { Framing.ethernet.header(for: $0.bytes) + $0.bytes }, dlt: 1)
        let output = TemporaryFile(unusedSuffix: ".pcap")
        _ = try Shell.check([BuiltProducts.mssclamp, "rewrite", "--mss", "1360", input.path, output.path])
        let dump = try Shell.check(["tcpdump", "-nn", "-vv", "-r", output.path])
        #expect(!dump.contains("incorrect"), "\(dump)")
        // tcpdump verifies every TCP checksum except behind an IPv6 fragment header (one fixture has one).
        #expect(dump.components(separatedBy: "cksum").count - 1 == 11)
        #expect(dump.components(separatedBy: "(correct)").count - 1 == 11)
        #expect(dump.contains("mss 1360"))
        #expect(dump.contains("mss 1340"))
        #expect(dump.contains("mss 536"))
    }
}

/// Builds minimal pcapng files: a section header, one interface description, enhanced packet blocks.
enum PcapNG {
    static func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
    static func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

    static func block(type: UInt32, body: [UInt8]) -> [UInt8] {
        let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
        let length = UInt32(12 + padded.count)
        return le32(type) + le32(length) + padded + le32(length)
    }

    static func file(linkType: UInt16, frames: [[UInt8]]) -> [UInt8] {
        // Section header: byte-order magic, version 1.0, section length unknown (-1).
        var bytes = block(type: 0x0a0d_0d0a, body: le32(0x1a2b_3c4d) + le16(1) + le16(0) + [UInt8](repeating: 0xff, count: 8))
        // Interface description: link type, reserved, snap length.
        bytes += block(type: 1, body: le16(linkType) + le16(0) + le32(65_535))
        for (index, frame) in frames.enumerated() {
            // Enhanced packet: interface 0, timestamp (microseconds, high and low), captured and original length.
            let timestamp = UInt64(1_700_000_000 + index) * 1_000_000
            bytes += block(
                type: 6,
                body: le32(0) + le32(UInt32(timestamp >> 32)) + le32(UInt32(timestamp & 0xffff_ffff))
                    + le32(UInt32(frame.count)) + le32(UInt32(frame.count)) + frame)
        }
        return bytes
    }
}
