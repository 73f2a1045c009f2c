import CMSSClampShim

#if canImport(Glibc)
    import Glibc
#endif

/// A netlink socket bound to multicast groups, for notifications of kernel changes.
public enum NetlinkSubscription {
    /// A close-on-exec netlink socket of `protocolNumber` bound to the multicast `groups` (a bit mask).
    /// - Returns: the socket's fd, which the caller owns.
    public static func open(protocolNumber: Int32, groups: UInt32) throws(SystemCallError) -> Int32 {
        let fd = CMSSClampShim_netlink_subscribe(protocolNumber, groups)
        guard fd >= 0 else { throw SystemCallError(.netlinkSubscribe, errno: errno) }
        return fd
    }

    /// Sets NETLINK_NO_ENOBUFS: messages lost to a full receive buffer are dropped silently instead of
    /// failing the next receive with ENOBUFS.
    public static func ignoreOverruns(_ fd: Int32) throws(SystemCallError) {
        guard CMSSClampShim_setsockopt_int(fd, CMSSClampShim_SOL_NETLINK(), CMSSClampShim_NETLINK_NO_ENOBUFS(), 1) == 0
        else { throw SystemCallError(.setsockopt, errno: errno) }
    }
}
