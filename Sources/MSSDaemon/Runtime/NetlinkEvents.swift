import MSSSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A netlink socket subscribed to multicast notifications, read by a thread of its own that calls
/// `onEvent` once per burst of messages (what they say is not parsed: any of them means "look again").
///
/// Two are used: rtnetlink's link group (an interface appeared, went or changed: re-resolve the peers'
/// interface names at once, instead of at the next 5-second check) and nfnetlink's nf_tables group (the
/// ruleset changed: check that mssclamp's rules are still in place).
final class NetlinkEvents: @unchecked Sendable {
    private let fd: Int32
    private let name: String
    private var thread: NamedThread?
    private let stopping = Atomic(false)

    /// rtnetlink, RTMGRP_LINK.
    static func links() -> NetlinkEvents? {
        NetlinkEvents(name: "links", protocolNumber: 0 /* NETLINK_ROUTE */, groups: 1 /* RTMGRP_LINK */)
    }

    /// nfnetlink, NFNLGRP_NFTABLES (7): every nf_tables change, iptables-nft's included.
    static func nftables() -> NetlinkEvents? {
        NetlinkEvents(name: "nftables", protocolNumber: 12 /* NETLINK_NETFILTER */, groups: 1 << (7 - 1))
    }

    private init?(name: String, protocolNumber: Int32, groups: UInt32) {
        guard let fd = try? NetlinkSubscription.open(protocolNumber: protocolNumber, groups: groups) else { return nil }
        // A burst of events must not fail the socket: losing some is fine, any one triggers a look.
        try? NetlinkSubscription.ignoreOverruns(fd)
        self.fd = fd
        self.name = name
    }

    /// Starts the reading thread (after the capability drop, like every thread).
    func start(_ onEvent: @escaping @Sendable () -> Void) {
        thread = NamedThread(name: "mssclamp-links") { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while !stopping.load(ordering: .relaxed) {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 250) > 0 else { continue }
                // Everything queued now is one burst.
                while recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 {}
                onEvent()
            }
        }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        thread?.join()
        thread = nil
    }

    deinit { close(fd) }
}
