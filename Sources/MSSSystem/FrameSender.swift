import CMSSClampShim

#if canImport(Glibc)
    import Glibc
#endif

/// Sends ready-made Ethernet frames out of one interface as fast as the kernel takes them: an AF_PACKET
/// socket and sendmmsg, a batch per call (`mssclamp bench`'s SYN generator). The frames go through the
/// interface's queueing discipline like any other packet. One thread uses a sender at a time.
public final class FrameSender: @unchecked Sendable {
    private let fd: Int32
    /// The most frames one `send` takes.
    public static let largestBatch = 1024

    /// A sender on `interface` in the calling thread's network namespace.
    public init(interface: String) throws(SystemCallError) {
        let fd = CMSSClampShim_packet_socket(interface)
        guard fd >= 0 else { throw SystemCallError(.packetSocket, errno: errno) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends `count` frames of `length` bytes each, contiguous in `frames`.
    /// - Returns: how many the kernel took (0 when its buffer is full for now).
    public func send(_ frames: UnsafeRawBufferPointer, length: Int, count: Int) throws(SystemCallError) -> Int {
        precondition(count <= Self.largestBatch && count * length <= frames.count, "a batch beyond its buffer")
        while true {
            let sent = CMSSClampShim_send_frames(fd, frames.baseAddress, length, UInt32(count))
            if sent >= 0 { return Int(sent) }
            switch errno {
            case EINTR: continue
            case ENOBUFS, EAGAIN: return 0
            default: throw SystemCallError(.sendmmsg, errno: errno)
            }
        }
    }
}
