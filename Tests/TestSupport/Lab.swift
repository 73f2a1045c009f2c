import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The repository root, found from this source file's location.
public enum Repository {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static func script(_ name: String) -> String { root.appendingPathComponent("scripts/\(name)").path }
}

/// The four-namespace PMTUD black-hole lab of `scripts/lab`, under a name unique to one test, deleted
/// when the value is released (whether the test passed or not).
public final class Lab: @unchecked Sendable {
    public let name: String
    public let client: String
    public let gateway: String
    public let middle: String
    public let server: String
    private var background: [BackgroundProcess] = []

    public static let serverIPv4 = "203.0.113.2"
    public static let serverIPv6 = "2001:db8:5::2"
    public static let clientIPv4 = "192.0.2.2"

    /// Builds the lab; `icmpFilter: false` leaves the middle router's ICMP filter out (PMTUD works).
    public init(icmpFilter: Bool = true) throws {
        // Test labs start with "mct" like every test namespace, so scripts/test cleans up after a crash.
        name = UniqueName.make("mct") + "l"
        try Shell.check([Repository.script("lab"), "up", name] + (icmpFilter ? [] : ["--icmp"]))
        client = "\(name)-client"
        gateway = "\(name)-gw"
        middle = "\(name)-mid"
        server = "\(name)-srv"
    }

    /// The control socket `startDaemon` gives the daemon, in a directory of its own: the daemon refuses
    /// one others can write to (/tmp itself), and makes this one 0700.
    public var controlSocket: String { Self.privateSocket("\(name)") }

    /// A control socket path in a directory the daemon creates for it under /tmp.
    public static func privateSocket(_ name: String) -> String { "/tmp/\(name).d/control.sock" }

    /// Removes a socket made with `privateSocket`, its learned-peers and detected-ceilings files and its
    /// directory.
    public static func removePrivateSocket(_ path: String) {
        unlink(path)
        unlink(path + ".learned")
        unlink(path + ".detected")
        rmdir((path as NSString).deletingLastPathComponent)
    }

    /// `mssclamp stats --json` of the lab's daemon (or the one at `socket`), parsed.
    public func statistics(socket: String? = nil) throws -> [String: Any] {
        let stats = try mssclamp(["stats", "--json", "--socket", socket ?? controlSocket])
        return try JSONSerialization.jsonObject(with: Data(stats.output.utf8)) as? [String: Any] ?? [:]
    }

    /// How many packets the daemon (at `socket`, else the lab's) has clamped; -1 when it does not say.
    public func daemonClamped(socket: String? = nil) throws -> Int {
        (try statistics(socket: socket)["outcomes"] as? [String: Int])?["clamped"] ?? -1
    }

    /// Runs the built `mssclamp` with `arguments` (on the host: the control socket is a file).
    public func mssclamp(_ arguments: [String]) throws -> CommandResult {
        try Shell.run([BuiltProducts.mssclamp] + arguments, timeout: 30)
    }

    deinit { tearDown() }

    public func tearDown() {
        for process in background { process.stop(signal: SIGKILL, timeout: 2) }
        background.removeAll()
        _ = try? Shell.run([Repository.script("lab"), "down", name])
        Self.removePrivateSocket(controlSocket)
    }

    /// Runs a command in a namespace; throws unless it succeeds.
    @discardableResult
    public func exec(_ namespace: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> String {
        try Shell.check(["ip", "netns", "exec", namespace] + arguments, timeout: timeout)
    }

    /// Runs a command in a namespace and returns whatever it did.
    @discardableResult
    public func run(_ namespace: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        try Shell.run(["ip", "netns", "exec", namespace] + arguments, timeout: timeout)
    }

    /// Starts a background program in a namespace, stopped with the lab.
    public func spawn(_ namespace: String, _ arguments: [String]) throws -> BackgroundProcess {
        let process = try BackgroundProcess(["ip", "netns", "exec", namespace] + arguments)
        background.append(process)
        return process
    }

    /// Starts the lab's HTTP server (scripts/labtool) on the server and waits until it answers.
    public func startServer() throws {
        let process = try spawn(server, ["python3", Repository.script("labtool"), "serve", "--port", "80"])
        guard process.waitForOutput(timeout: 15, { $0.contains("serving on port") }) else {
            throw CommandFailed(command: ["labtool serve"], result: CommandResult(status: -1, output: process.output, error: "server did not start"))
        }
    }

    /// Starts `mssclamp run` on the gateway and waits until it says it is clamping.
    public func startDaemon(_ arguments: [String], environment: [String] = [], timeout: TimeInterval = 30) throws -> BackgroundProcess {
        // Every lab's daemon gets its own control socket: tests run in parallel.
        let socket = arguments.contains("--control-socket") ? [] : ["--control-socket", controlSocket]
        let command = (environment.isEmpty ? [] : ["env"] + environment) + [BuiltProducts.mssclamp, "run"]
        let process = try spawn(gateway, command + arguments + socket)
        guard process.waitForOutput(timeout: timeout, { $0.contains("clamping on queue") || !process.isRunning }),
            process.isRunning
        else {
            throw CommandFailed(command: ["mssclamp run"] + arguments, result: CommandResult(status: -1, output: process.output, error: "daemon did not start"))
        }
        return process
    }

    /// The server-side MSS of a new connection from `namespace` to `host` (GET /mss).
    public func serverMSS(from namespace: String, host: String, source: String? = nil) throws -> (maxseg: Int, timestamps: Bool) {
        let url = host.contains(":") ? "http://[\(host)]/mss" : "http://\(host)/mss"
        let body = try exec(namespace, ["curl", "-s", "--max-time", "10"] + (source.map { ["--interface", $0] } ?? []) + [url])
        guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let maxseg = object["maxseg"] as? Int, let timestamps = object["timestamps"] as? Bool
        else { throw CommandFailed(command: ["curl", url], result: CommandResult(status: 0, output: body, error: "bad /mss")) }
        return (maxseg, timestamps)
    }

    /// The MSS of a new connection from the client to `host` as the server saw it: its maximum segment
    /// plus the 12 bytes of the timestamp option when that was negotiated.
    public func handshakeMSS(host: String = Lab.serverIPv4, source: String? = nil) throws -> Int {
        let mss = try serverMSS(from: client, host: host, source: source)
        return mss.maxseg + (mss.timestamps ? 12 : 0)
    }

    /// Downloads the 2 MB file; returns the bytes received and curl's exit status.
    public func download(from namespace: String, host: String, timeout: Int) throws -> (bytes: Int, status: Int32) {
        let url = host.contains(":") ? "http://[\(host)]/file" : "http://\(host)/file"
        let result = try run(
            namespace, ["curl", "-s", "-o", "/dev/null", "--max-time", String(timeout), "-w", "%{size_download}", url],
            timeout: TimeInterval(timeout + 10))
        return (Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1, result.status)
    }

    /// Packets the gateway's kernel safety net lowered (its `clamped` counter): SYNs the daemon missed.
    public func netClamped(table: String = "mssclamp_net") throws -> Int {
        let text = try exec(gateway, ["nft", "list", "counter", "inet", table, "clamped"])
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard let index = words.firstIndex(of: "packets"), index + 1 < words.count, let value = Int(words[index + 1]) else {
            throw CommandFailed(
                command: ["nft", "list", "counter", "inet", table, "clamped"],
                result: CommandResult(status: -1, output: text, error: "no packet count in the listing"))
        }
        return value
    }

    /// `TcpInCsumErrors` of a namespace (/proc/net/snmp, since the namespace was made).
    public func checksumErrors(_ namespace: String) throws -> Int {
        // /proc/net/snmp: a "Tcp:" line of names, then a "Tcp:" line of values. A counter that cannot be
        // read is an error, never a zero: a parse miss must not pass every `== 0` check.
        let snmp = try exec(namespace, ["cat", "/proc/net/snmp"])
        let tcp = snmp.split(separator: "\n").filter { $0.hasPrefix("Tcp:") }.map { $0.split(separator: " ").dropFirst() }
        guard tcp.count == 2, let column = tcp[0].firstIndex(of: "InCsumErrors"), let value = Int(tcp[1][column]) else {
            throw CommandFailed(
                command: ["cat", "/proc/net/snmp"],
                result: CommandResult(status: -1, output: snmp, error: "no TcpInCsumErrors counter in \(namespace)"))
        }
        return value
    }
}

/// A tcpdump capture in a namespace, stopped and read back as text.
public final class Capture: @unchecked Sendable {
    public let file = TemporaryFile(unusedSuffix: ".pcap")
    private let process: BackgroundProcess

    /// Starts capturing on `interface` of `namespace` with `filter`, and waits until tcpdump listens.
    public init(lab: Lab, namespace: String, interface: String, filter: String) throws {
        process = try lab.spawn(namespace, ["tcpdump", "-nn", "-U", "--immediate-mode", "-i", interface, "-w", file.path, filter])
        guard process.waitForOutput(timeout: 10, { $0.contains("listening on") }) else {
            throw CommandFailed(command: ["tcpdump"], result: CommandResult(status: -1, output: process.output, error: "tcpdump did not start"))
        }
    }

    /// Stops the capture and returns `tcpdump -nn -vv -r` of it. With `until`, first waits (at most
    /// `timeout`) until the text of what was written so far satisfies it: packets sent without waiting
    /// for an answer may still be on their way through a queue when the sender returns.
    public func stop(until condition: ((String) -> Bool)? = nil, timeout: TimeInterval = 10) throws -> String {
        if let condition {
            _ = eventually(timeout: timeout) { condition((try? text()) ?? "") }
        }
        usleep(200_000)  // let the last packets reach the file
        process.stop(signal: SIGINT)
        return try text()
    }

    /// `tcpdump -nn -vv -r` of what the capture has written.
    private func text() throws -> String { try Shell.check(["tcpdump", "-nn", "-vv", "-r", file.path]) }
}

/// Lines of a tcpdump text that show a segment with exactly these flags ("S" or "S.").
public func segments(_ dump: String, flags: String) -> [String] {
    // With -vv tcpdump may print the IP header on one line and TCP on the next; join them first.
    var joined: [String] = []
    for line in dump.split(separator: "\n").map(String.init) {
        if line.hasPrefix(" "), let last = joined.popLast() { joined.append(last + " " + line) } else { joined.append(line) }
    }
    return joined.filter { $0.contains("Flags [\(flags)]") }
}
