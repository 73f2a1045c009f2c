import CMSSClampShim
import CNetfilterQueue

#if canImport(Glibc)
    import Glibc
#endif

/// A failed call of the sample socket, with its errno.
public struct SampleSocketError: Error, Sendable, Hashable, CustomStringConvertible {
    public var call: String
    public var errno: Int32
    public var group: UInt16

    public var description: String {
        let reason = String(cString: strerror(errno))
        if errno == EPERM || errno == EACCES {
            return "NFLOG group \(group): \(call) failed (\(reason)): needs root or CAP_NET_ADMIN"
        }
        if errno == EBUSY {
            return "NFLOG group \(group) is already bound by another process (\(reason)), ulogd for example"
        }
        return "NFLOG group \(group): \(call) failed: \(reason) (errno \(errno))"
    }
}

/// nfnetlink_log (linux/netfilter/nfnetlink_log.h) numbers; CMSSClampShim checks them against the header.
enum LogLayout {
    /// (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET and | NFULNL_MSG_CONFIG.
    static let typePacket: UInt16 = 4 << 8 | 0
    static let typeConfig: UInt16 = 4 << 8 | 1
    static let attributePayload: UInt16 = 9  // NFULA_PAYLOAD
    static let configCommand: UInt16 = 1  // NFULA_CFG_CMD
    static let configMode: UInt16 = 2  // NFULA_CFG_MODE
    static let configBufferSize: UInt16 = 3  // NFULA_CFG_NLBUFSIZ
    static let configTimeout: UInt16 = 4  // NFULA_CFG_TIMEOUT
    static let configThreshold: UInt16 = 5  // NFULA_CFG_QTHRESH
    static let commandBind: UInt8 = 1  // NFULNL_CFG_CMD_BIND
    static let copyPacket: UInt8 = 2  // NFULNL_COPY_PACKET
}

/// The receiving end of an NFLOG group: the packets that nftables `log group N` rules copy to user space
/// (headers only: the rules set a snap length). The black-hole watch reads its samples here.
///
/// One socket per group (the kernel gives a group to one socket). Binding needs CAP_NET_ADMIN, the
/// capability the daemon keeps. Samples the socket cannot take in time are dropped by the kernel and
/// never slow the packet path: NFLOG copies, it never holds a packet.
public final class SampleSocket {
    public let group: UInt16
    public let fd: Int32
    private let socket: OpaquePointer
    private let buffer: UnsafeMutableRawBufferPointer

    /// How many bytes of each packet a sample carries at most (IP and TCP headers with options).
    public static let copyRange: UInt32 = 128

    public init(group: UInt16) throws(SampleSocketError) {
        self.group = group
        guard let socket = mnl_socket_open(NETLINK_NETFILTER) else {
            throw SampleSocketError(call: "socket(AF_NETLINK)", errno: errno, group: group)
        }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let error = errno
            mnl_socket_close(socket)
            throw SampleSocketError(call: "bind", errno: error, group: group)
        }
        self.socket = socket
        fd = mnl_socket_get_fd(socket)
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        // A full receive buffer loses samples, never the socket.
        _ = CMSSClampShim_setsockopt_int(fd, CMSSClampShim_SOL_NETLINK(), CMSSClampShim_NETLINK_NO_ENOBUFS(), 1)
        var timeout = timeval(tv_sec: 0, tv_usec: 250_000)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        try configure()
    }

    deinit {
        // Closing the socket unbinds the group; the rules' samples then go nowhere.
        mnl_socket_close(socket)
        buffer.deallocate()
    }

    /// Binds the group, copying each sample's first `copyRange` bytes, in batches sent at least every
    /// 100 ms (the kernel's default waits a second).
    private func configure() throws(SampleSocketError) {
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)
        defer { request.deallocate() }
        request.initializeMemory(as: UInt8.self, repeating: 0)
        let header: UnsafeMutablePointer<nlmsghdr> = mnl_nlmsg_put_header(request.baseAddress)
        header.pointee.nlmsg_type = LogLayout.typeConfig
        header.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST | NLM_F_ACK)
        header.pointee.nlmsg_seq = UInt32(truncatingIfNeeded: time(nil)) | 1
        let generic = mnl_nlmsg_put_extra_header(header, 4)!.assumingMemoryBound(to: UInt8.self)
        generic[0] = UInt8(AF_UNSPEC)  // nfgenmsg: family, version 0, the group (big-endian)
        generic[1] = 0
        generic[2] = UInt8(group >> 8)
        generic[3] = UInt8(group & 0xff)
        var command = LogLayout.commandBind
        mnl_attr_put(header, LogLayout.configCommand, 1, &command)
        // struct nfulnl_msg_config_mode (packed): be32 copy range, u8 mode, u8 pad.
        var mode: [UInt8] = [0, 0, UInt8(Self.copyRange >> 8), UInt8(Self.copyRange & 0xff), LogLayout.copyPacket, 0]
        mnl_attr_put(header, LogLayout.configMode, 6, &mode)
        mnl_attr_put_u32(header, LogLayout.configTimeout, UInt32(10).bigEndian)
        mnl_attr_put_u32(header, LogLayout.configThreshold, UInt32(64).bigEndian)
        guard mnl_socket_sendto(socket, header, Int(header.pointee.nlmsg_len)) >= 0 else {
            throw SampleSocketError(call: "NFULNL_MSG_CONFIG", errno: errno, group: group)
        }
        while true {
            let received = mnl_socket_recvfrom(socket, buffer.baseAddress, buffer.count)
            if received < 0 {
                if errno == EINTR { continue }
                throw SampleSocketError(call: "NFULNL_MSG_CONFIG", errno: errno, group: group)
            }
            var code: Int32? = nil
            Self.forEachMessage(UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<received]))) { type, body in
                if type == UInt16(NLMSG_ERROR), body.count >= 4 { code = -body.loadUnaligned(as: Int32.self) }
            }
            if let code {
                guard code == 0 else { throw SampleSocketError(call: "NFULNL_MSG_CONFIG", errno: code, group: group) }
                return
            }
        }
    }

    /// Waits up to 250 ms for samples and calls `body` with each one's packet bytes (valid during the
    /// call); returns how many there were.
    /// - Throws: for anything but EINTR, a timeout and ENOBUFS.
    @discardableResult
    public func receive(_ body: (UnsafeRawBufferPointer) -> Void) throws(SampleSocketError) -> Int {
        let received = recv(fd, buffer.baseAddress, buffer.count, 0)
        if received < 0 {
            switch errno {
            case EINTR, EAGAIN, EWOULDBLOCK, ENOBUFS: return 0
            case let error: throw SampleSocketError(call: "recv", errno: error, group: group)
            }
        }
        var count = 0
        Self.forEachMessage(UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<received]))) { type, message in
            guard type == LogLayout.typePacket, message.count >= 4 else { return }
            Self.forEachAttribute(UnsafeRawBufferPointer(rebasing: message[4...])) { attribute, value in
                guard attribute == LogLayout.attributePayload else { return }
                count += 1
                body(value)
            }
        }
        return count
    }

    /// Each netlink message of a datagram: its type and the bytes after its header.
    static func forEachMessage(_ datagram: UnsafeRawBufferPointer, _ body: (UInt16, UnsafeRawBufferPointer) -> Void) {
        var offset = 0
        while offset + 16 <= datagram.count {
            let length = Int(datagram.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            guard length >= 16, offset + length <= datagram.count else { return }
            let type = datagram.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
            body(type, UnsafeRawBufferPointer(rebasing: datagram[(offset + 16)..<(offset + length)]))
            offset += (length + 3) & ~3
        }
    }

    /// Each netlink attribute of `bytes`: its type (flags masked) and value.
    static func forEachAttribute(_ bytes: UnsafeRawBufferPointer, _ body: (UInt16, UnsafeRawBufferPointer) -> Void) {
        var offset = 0
        while offset + 4 <= bytes.count {
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            guard length >= 4, offset + length <= bytes.count else { return }
            let type = bytes.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self) & 0x3fff
            body(type, UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + length)]))
            offset += (length + 3) & ~3
        }
    }
}
