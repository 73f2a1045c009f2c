import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 19, files: what the daemon reads and writes cannot be bent by whoever else can reach the
/// directories involved, and a file being written is never read half.
@Suite(
    "State files: slow rewrites, corrupt files, planted links, shared directories",
    .enabled(if: IntegrationEnvironment.available, Comment(rawValue: IntegrationEnvironment.skipReason ?? "")))
struct StateFilesTests {
    /// A daemon in a namespace of its own (no traffic needed), with `arguments`.
    static func daemon(_ namespace: NetworkNamespace, _ arguments: [String]) throws -> BackgroundProcess {
        let process = try namespace.spawn([BuiltProducts.mssclamp, "run"] + arguments)
        guard process.waitForOutput(timeout: 60, { $0.contains("clamping on queue") || !process.isRunning }), process.isRunning else {
            throw CommandFailed(command: ["mssclamp run"] + arguments, result: CommandResult(status: -1, output: process.output, error: "daemon did not start"))
        }
        return process
    }

    static func policy(peers: Int, mss: Int) -> String {
        var text = "[defaults]\nmss4 = 1360\n\n"
        text.reserveCapacity(peers * 60)
        for index in 0..<peers {
            text += "[[peer]]\nname = \"p\(index)\"\nmatch = \"2001:db8:\(String(index >> 16, radix: 16)):\(String(index & 0xffff, radix: 16))::/64\"\nmss = \(mss)\n\n"
        }
        return text
    }

    /// Configuration management rewrites a 100,000-peer file in place, slowly; a SIGHUP comes in the
    /// middle. The reload waits for the file to settle and ends with all 100,000 peers, the new ones.
    @Test func aReloadDuringASlowRewriteGetsTheWholeFile() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let socket = Lab.privateSocket(namespace.name)
        defer { Lab.removePrivateSocket(socket) }
        let file = TemporaryFile(unusedSuffix: ".toml")
        try Self.policy(peers: 100_000, mss: 1300).write(toFile: file.path, atomically: true, encoding: .utf8)
        let daemon = try Self.daemon(namespace, ["--config", file.path, "--queue", "11", "--control-socket", socket])
        // The new file goes out in 40 pieces, 50 ms apart, over the old one (truncated first).
        let text = Array(Self.policy(peers: 100_000, mss: 1250).utf8)
        let fd = open(file.path, O_WRONLY | O_TRUNC)
        #expect(fd >= 0)
        let piece = text.count / 40 + 1
        var offset = 0
        var signalled = false
        while offset < text.count {
            let end = min(text.count, offset + piece)
            _ = text[offset..<end].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            offset = end
            if !signalled && offset > text.count * 2 / 5 {
                kill(daemon.pid, SIGHUP)  // cut at 40 %: a [[peer]] boundary is somewhere near
                signalled = true
            }
            usleep(50_000)
        }
        close(fd)
        let reloaded = daemon.waitForOutput(timeout: 60) { $0.contains("policy reloaded") || $0.contains("reload rejected") }
        #expect(reloaded, "\(daemon.output.suffix(2000))")
        #expect(daemon.output.contains("100000 peer(s)"), "the reload read part of the file: \(daemon.output.suffix(2000))")
        let list = try Shell.check([BuiltProducts.mssclamp, "peer", "list", "--json", "--socket", socket], timeout: 120)
        let peers = try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [[String: Any]] ?? []
        #expect(peers.count == 100_000)
        #expect(peers.last?["mss4"] as? Int == 1250, "\(peers.last ?? [:])")
        #expect(daemon.stop(signal: SIGTERM) == 0)
    }

    /// A learned-peers file that is not one (a crash mid-write on a filesystem without rename, a hand
    /// edit) is moved aside and named in the log; the next learn writes a new one and leaves it there.
    @Test func aCorruptLearnedFileIsKeptAside() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let socket = Lab.privateSocket(namespace.name)
        defer { Lab.removePrivateSocket(socket) }
        let directory = (socket as NSString).deletingLastPathComponent
        mkdir(directory, 0o700)
        let learned = socket + ".learned"
        try "{\"clients\": {\"c1\": [\"10.8.0.2/32\"], TRUNCATED".write(toFile: learned, atomically: true, encoding: .utf8)
        let config = TemporaryFile(unusedSuffix: ".toml")
        try "[[peer]]\nname = \"clients\"\nlearn_address = true\nlearn_within = [\"10.8.0.0/24\"]\nmss = 1300\n"
            .write(toFile: config.path, atomically: true, encoding: .utf8)
        let daemon = try Self.daemon(namespace, ["--config", config.path, "--queue", "12", "--control-socket", socket])
        #expect(daemon.waitForOutput(timeout: 5) { $0.contains("\(learned) is corrupt") }, "\(daemon.output)")
        let aside = (try FileManager.default.contentsOfDirectory(atPath: directory)).filter { $0.contains(".learned.corrupt-") }
        #expect(aside.count == 1, "\(aside)")
        #expect(daemon.output.contains("kept aside as \(directory)/\(aside.first ?? "?")"), "\(daemon.output)")
        let learn = try Shell.run([BuiltProducts.mssclamp, "learn-address", "clients", "add", "10.8.0.9", "c9", "--strict", "--socket", socket])
        #expect(learn.succeeded, "\(learn)")
        #expect(eventually(timeout: 5) { (try? String(contentsOfFile: learned, encoding: .utf8))?.contains("10.8.0.9") == true })
        let kept = try String(contentsOfFile: "\(directory)/\(aside.first ?? "?")", encoding: .utf8)
        #expect(kept.contains("TRUNCATED"), "the corrupt file was overwritten")
        #expect(daemon.stop(signal: SIGTERM) == 0)
    }

    /// Someone plants a link where `peer save` used to write its temporary file: the save writes through
    /// nothing, and the policy file gets the live peer.
    @Test func peerSaveWritesThroughNoPlantedLink() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let socket = Lab.privateSocket(namespace.name)
        defer { Lab.removePrivateSocket(socket) }
        let directory = "/tmp/mssclamp-save-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let policy = "\(directory)/policy.toml"
        try "[defaults]\nmss4 = 1360\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let victim = "/tmp/mssclamp-victim-\(UUID().uuidString)"
        defer { unlink(victim) }
        #expect(symlink(victim, policy + ".mssclamp-save") == 0)
        let daemon = try Self.daemon(namespace, ["--config", policy, "--queue", "13", "--control-socket", socket])
        #expect(try Shell.run([BuiltProducts.mssclamp, "peer", "add", "kept", "--match", "198.51.100.0/24", "--mss", "1200", "--socket", socket]).succeeded)
        let save = try Shell.run([BuiltProducts.mssclamp, "peer", "save", "--socket", socket])
        #expect(save.succeeded, "\(save)")
        #expect(access(victim, F_OK) != 0, "the save wrote through the planted link")
        #expect(try String(contentsOfFile: policy, encoding: .utf8).contains("198.51.100.0/24"))
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(entries == ["policy.toml", "policy.toml.mssclamp-save"], "left behind: \(entries)")
        #expect(daemon.stop(signal: SIGTERM) == 0)
    }

    /// A control socket in a directory others can write to (/tmp itself) is refused at start: another
    /// user could have planted the learned-peers file or a socket of their own there.
    @Test func aSharedSocketDirectoryIsRefused() throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let result = try namespace.run(
            [BuiltProducts.mssclamp, "run", "--mss", "1360", "--queue", "14", "--control-socket", "/tmp/\(namespace.name).sock"], timeout: 30)
        #expect(result.status == 73, "\(result)")
        #expect(result.error.contains("writable by others"), "\(result.error)")
        #expect(access("/tmp/\(namespace.name).sock", F_OK) != 0)
    }
}
