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

/// What an `mss = "auto"` peer is probed at, whether it may be, and what it gets meanwhile.
extension PeerSources {
    /// What an auto peer gets when it does not answer: the template's fallback, else the MTU of the route
    /// to it (the tunnel interface's) less the headers but never above the defaults, else the defaults.
    func fallbackFor(_ given: PeerCeiling?, address: String) -> (Ceilings, String) {
        if let given { return (given.ceilings, given.summary) }
        let defaults = policy.store.snapshot.defaults
        if let mtu = EchoSweep.routeMTU(to: address) {
            let route = Ceilings(linkMTU: mtu)
            let lowered = route.lowered(by: defaults)
            return (lowered, lowered == route ? "route MTU \(mtu)" : "route MTU \(mtu), capped by the defaults")
        }
        return (defaults, "the defaults")
    }

    /// Why `address` must not be probed, or nil when it may: a probe goes only toward a tunnel client,
    /// never the host itself, special-use space, or (for a learn-address template with bounds) outside
    /// `learn_within`. A DF sweep is 59 echo requests: it must not be aimed anywhere a client names.
    static func probeRefusal(_ address: String, template: PeerTemplate, local: [IPPrefix]) -> String? {
        guard let target = try? IPPrefix(parsing: address) else { return "no address to probe" }
        if let reserved = target.reservedUse { return "\(address) is \(reserved)" }
        if local.contains(target) { return "\(address) is an address of this host" }
        let within = template.learning.within
        if template.source == .learnAddress, !within.isEmpty, !within.contains(where: { $0.covers(target) }) {
            return "\(address) is outside learn_within"
        }
        return nil
    }

    /// The address to probe: a host address among the peer's (IPv4 first), else the first address after
    /// the first prefix's network address.
    static func probeAddress(_ prefixes: [IPPrefix]) -> String {
        let hosts = prefixes.filter { $0.isHost }
        if let host = hosts.first(where: { !$0.isIPv6 }) ?? hosts.first { return host.address }
        return prefixes.first?.firstHost ?? ""
    }
}
