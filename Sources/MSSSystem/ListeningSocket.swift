import CMSSClampShim

#if canImport(Glibc)
    import Glibc
#endif

/// Connections waiting on a listening socket.
public enum ListeningSocket {
    /// The next waiting connection, close-on-exec and non-blocking from the start (accept4), so it can never
    /// leak into a child started by another thread at the same moment; nil when none is waiting.
    /// - Returns: the connection's fd, which the caller owns.
    public static func accept(_ listener: Int32) throws(SystemCallError) -> Int32? {
        while true {
            let fd = CMSSClampShim_accept(listener)
            if fd >= 0 { return fd }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let error: throw SystemCallError(.accept, errno: error)
            }
        }
    }
}
