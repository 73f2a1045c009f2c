import CMSSClampShim

#if canImport(Glibc)
    import Glibc
#endif

/// Who is at the other end of a connected Unix socket, as the kernel recorded it when the peer connected.
public struct PeerCredentials: Sendable, Hashable {
    public var uid: UInt32
    public var gid: UInt32

    /// The peer's uid and primary gid (SO_PEERCRED).
    public init(of fd: Int32) throws(SystemCallError) {
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard CMSSClampShim_peer_credentials(fd, &uid, &gid) == 0 else {
            throw SystemCallError(.peerCredentials, errno: errno)
        }
        self.uid = uid
        self.gid = gid
    }

    /// SO_PEERGROUPS (Linux 4.13). The value is asm-generic's; Glibc's headers do not always carry it.
    static let peerGroupsOption: Int32 = 59

    /// The peer's supplementary groups (SO_PEERGROUPS).
    public static func supplementaryGroups(of fd: Int32) throws(SystemCallError) -> [UInt32] {
        var groups = [gid_t](repeating: 0, count: 64)
        for _ in 0..<2 {
            var length = socklen_t(groups.count * MemoryLayout<gid_t>.size)
            let result = groups.withUnsafeMutableBytes {
                getsockopt(fd, SOL_SOCKET, peerGroupsOption, $0.baseAddress, &length)
            }
            if result == 0 { return Array(groups.prefix(Int(length) / MemoryLayout<gid_t>.size)) }
            // ERANGE: the length says how much room the list needs.
            let error = errno
            guard error == ERANGE, Int(length) / MemoryLayout<gid_t>.size <= 65_536 else {
                throw SystemCallError(.peerGroups, errno: error)
            }
            groups = [gid_t](repeating: 0, count: Int(length) / MemoryLayout<gid_t>.size)
        }
        // The list grew again between the two calls.
        throw SystemCallError(.peerGroups, errno: ERANGE)
    }
}
