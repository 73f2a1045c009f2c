import Foundation
import Logging
import MSSControl
import MSSPolicy
import MSSProbe
import MSSProcess
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The WireGuard source: `wg show` read every second, each peer's allowed IPs and endpoint (adds, removes
/// and roams show within that second).
///
/// `wg show IFACE allowed-ips` and `wg show IFACE endpoints` are read rather than `wg show IFACE dump`:
/// the dump starts with the interface's private key, which this daemon has no business reading. `wg`
/// speaks to the kernel module over netlink and to wireguard-go over its UAPI socket
/// (/var/run/wireguard/IFACE.sock), so both work; the UAPI socket is root's, so a daemon started with
/// `--user` cannot read wireguard-go's peers.
extension PeerSources {
    func pollWireGuard() {
        let templates = policy.configuration.templates
        if templates != lastTemplates {
            // A reload changed the templates: every template's peers are rendered anew (ceilings given,
            // fallbacks), and learn-address ones need no poll to show it.
            lastTemplates = templates
            for template in templates { publish(template.name) }
        }
        for template in templates {
            guard case .wireguard(let interface) = template.source else { continue }
            let peers = Self.readWireGuard(interface)
            switch peers {
            case .success(let peers):
                let changed = state.withLock { state -> Bool in
                    state.failing[template.name] = nil
                    guard state.wireguard[template.name] != peers else { return false }
                    state.wireguard[template.name] = peers
                    return true
                }
                if changed { publish(template.name) }
            case .failure(let message):
                let first = state.withLock { state -> Bool in
                    defer { state.failing[template.name] = message }
                    return state.failing[template.name] != message
                }
                if first { logger.warning("peer \"\(template.name)\": cannot read wireguard \(interface): \(message)") }
                // Gone for good only when the interface is: a `wg` that failed once keeps the peers.
                if if_nametoindex(interface) == 0 {
                    let had = state.withLock { state -> Bool in
                        defer { state.wireguard[template.name] = [:] }
                        return !(state.wireguard[template.name]?.isEmpty ?? true)
                    }
                    if had { publish(template.name) }
                }
            }
        }
        // Templates a reload took away: their peers go.
        let names = Set(templates.map(\.name))
        let gone = state.withLock { state in
            Set(state.published.keys).subtracting(names)
        }
        for template in gone { publish(template) }
    }

    enum ReadResult: Equatable {
        case success([String: WireGuardPeer])
        case failure(String)
    }

    static func readWireGuard(_ interface: String) -> ReadResult {
        let allowed: ChildResult
        let endpoints: ChildResult
        do {
            allowed = try ChildProcess.run(["wg", "show", interface, "allowed-ips"], timeout: 5)
            guard allowed.status == 0 else { return .failure(allowed.error.trimmedLine) }
            endpoints = try ChildProcess.run(["wg", "show", interface, "endpoints"], timeout: 5)
            guard endpoints.status == 0 else { return .failure(endpoints.error.trimmedLine) }
        } catch {
            return .failure("\(error)")
        }
        return .success(parse(allowedIPs: allowed.output, endpoints: endpoints.output))
    }

    /// `wg show IFACE allowed-ips` ("KEY<TAB>PREFIX PREFIX" or "(none)") and `... endpoints`
    /// ("KEY<TAB>HOST:PORT" or "(none)").
    static func parse(allowedIPs: String, endpoints: String) -> [String: WireGuardPeer] {
        var peers: [String: WireGuardPeer] = [:]
        for line in allowedIPs.split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 1)
            guard fields.count == 2 else { continue }
            let prefixes = fields[1].split(separator: " ").compactMap { try? IPPrefix(parsing: String($0)) }
            peers[String(fields[0])] = WireGuardPeer(allowed: prefixes, endpoint: nil)
        }
        for line in endpoints.split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 1)
            guard fields.count == 2, fields[1] != "(none)" else { continue }
            peers[String(fields[0])]?.endpoint = String(fields[1])
        }
        return peers
    }
}

extension String {
    /// Without leading and trailing spaces and newlines (a tool's one-line error).
    var trimmedLine: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
