import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A lab of real VPN tunnels over a PMTUD black hole (scripts/tunnellab): WireGuard through wireguard-go,
/// or OpenVPN in TLS mode. Client K reaches the HTTP server through the tunnel to the gateway; its own link
/// to the middle router has its own MTU, and the middle router drops fragments and ICMP "too big".
public final class TunnelLab: @unchecked Sendable {
    public let name: String
    public let gateway: String
    public let server: String
    /// The gateway's tunnel interface.
    public let gatewayInterface: String
    /// What `tunnellab up` printed (JSON): for IPsec, the gateway's VICI socket and each client's virtual IPs.
    public let upOutput: String
    private var background: [BackgroundProcess] = []

    /// Builds the lab; `options` are tunnellab's (`--gw-interface`, `--tunnel-mtu`, `--later`, `--user`...).
    public init(kind: String, links: [Int], options: [String] = []) throws {
        // "mct" like every test namespace, so scripts/test removes leftovers of a crash.
        name = UniqueName.make("mct") + "t"
        gateway = "\(name)-gw"
        server = "\(name)-srv"
        let output = try Shell.check(
            [Repository.script("tunnellab"), "up", name, "--kind", kind, "--links", links.map(String.init).joined(separator: ",")] + options,
            timeout: 90)
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        gatewayInterface = object?["gw_interface"] as? String ?? ""
        upOutput = output
    }

    public func client(_ k: Int) -> String { "\(name)-c\(k)" }

    deinit { tearDown() }

    public func tearDown() {
        for process in background { process.stop(signal: SIGKILL, timeout: 2) }
        background.removeAll()
        _ = try? Shell.run([Repository.script("tunnellab"), "down", name], timeout: 60)
    }

    private func tool(_ arguments: [String], timeout: TimeInterval = 120) throws -> CommandResult {
        try Shell.run([Repository.script("tunnellab")] + arguments, timeout: timeout)
    }

    /// `tunnellab COMMAND NAME ARGUMENTS...` (sa-down, sa-up, rekey, restart-charon, gw-swanctl); throws
    /// when it fails.
    @discardableResult
    public func lab(_ command: String, _ arguments: [String] = [], timeout: TimeInterval = 120) throws -> CommandResult {
        let result = try tool([command, name] + arguments, timeout: timeout)
        guard result.succeeded else { throw CommandFailed(command: ["tunnellab", command, name] + arguments, result: result) }
        return result
    }

    /// A value of what `up` printed, by key path ("vici_socket", "clients.1.vip").
    public func upValue(_ path: String) -> String? {
        var object = (try? JSONSerialization.jsonObject(with: Data(upOutput.utf8))) as Any?
        for key in path.split(separator: ".") { object = (object as? [String: Any])?[String(key)] }
        return object.map { "\($0)" }
    }

    /// Adds client K to the WireGuard server (`wg set`).
    public func addPeer(_ k: Int) throws {
        let result = try tool(["add-peer", name, String(k)])
        guard result.succeeded else { throw CommandFailed(command: ["tunnellab", "add-peer"], result: result) }
    }

    /// Connects the OpenVPN clients of a lab made with `--defer-clients`.
    public func startClients() throws {
        let result = try tool(["start-clients", name])
        guard result.succeeded else { throw CommandFailed(command: ["tunnellab", "start-clients"], result: result) }
    }

    /// Whether the 2 MB download from client K completes.
    public func download(_ k: Int) throws -> Bool {
        let result = try tool(["download", name, String(k)])
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        return object?["ok"] as? Bool ?? false
    }

    /// The MSS the server saw in client K's handshake (its maximum segment plus the timestamp option).
    public func serverMSS(_ k: Int) throws -> Int {
        let result = try tool(["mss", name, String(k)])
        guard result.succeeded, let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
            let maxseg = object["maxseg"] as? Int
        else { throw CommandFailed(command: ["tunnellab", "mss"], result: result) }
        return maxseg + ((object["timestamps"] as? Bool ?? false) ? 12 : 0)
    }

    /// Bisection: the largest MSS in low...high with which client K's 2 MB download completes, nil when
    /// even `low` fails. Also the sizes tried.
    public func largest(_ k: Int, low: Int, high: Int) throws -> (largest: Int?, tries: String) {
        let result = try tool(["largest", name, String(k), "--low", String(low), "--high", String(high)], timeout: 600)
        guard result.succeeded, let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] else {
            throw CommandFailed(command: ["tunnellab", "largest"], result: result)
        }
        let tries = (object["tries"] as? [[String: Any]] ?? []).map { "\($0["mss"] ?? "?")\(($0["ok"] as? Bool ?? false) ? "+" : "-")" }
        return (object["largest"] as? Int, tries.joined(separator: " "))
    }

    /// Runs a command in one of the lab's namespaces.
    @discardableResult
    public func run(_ namespace: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        try Shell.run(["ip", "netns", "exec", namespace] + arguments, timeout: timeout)
    }

    /// Starts `mssclamp run` on the gateway and waits until it says it is clamping.
    public func startDaemon(_ arguments: [String]) throws -> BackgroundProcess {
        let process = try BackgroundProcess(["ip", "netns", "exec", gateway, BuiltProducts.mssclamp, "run"] + arguments)
        background.append(process)
        guard process.waitForOutput(timeout: 30, { $0.contains("clamping on queue") || !process.isRunning }), process.isRunning else {
            throw CommandFailed(command: ["mssclamp run"] + arguments, result: CommandResult(status: -1, output: process.output, error: "daemon did not start"))
        }
        return process
    }
}
