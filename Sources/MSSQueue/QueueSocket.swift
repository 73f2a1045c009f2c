import CMSSClampShim
import CNetfilterQueue

#if canImport(Glibc)
    import Glibc
#endif

/// How a queue is bound and configured.
public struct QueueConfiguration: Sendable, Hashable {
    /// Packets the kernel holds for this queue before overflowing (NFQA_CFG_QUEUE_MAXLEN).
    public var maximumLength: UInt32
    /// Accept packets when the queue overflows instead of dropping them (NFQA_CFG_F_FAIL_OPEN). On by
    /// default: a SYN accepted unclamped reaches the kernel safety net; a dropped one costs the client a
    /// retransmission second (docs/operations.md).
    public var failOpen: Bool
    /// Datagrams taken per recvmmsg.
    public var batchSize: Int
    /// SO_RCVBUFFORCE in bytes; a burst waits here while a batch is processed. A queued SYN takes about
    /// 1 KiB of it (the skb's true size): 128 MiB holds the 65,536 packets the queue may hold.
    public var receiveBufferBytes = 128 << 20
    /// How long a receive waits before the worker checks whether to stop (milliseconds).
    public var receiveTimeoutMilliseconds = 200

    /// The values come from the policy's `[queue]` or its defaults (MSSPolicy's `QueueDefaults`, their one home).
    public init(maximumLength: UInt32, failOpen: Bool, batchSize: Int) {
        self.maximumLength = maximumLength
        self.failOpen = failOpen
        self.batchSize = batchSize
    }

    /// The copy range: whole packets up to 64 KiB. A SYN is far smaller; anything cut is never modified.
    public static let copyRange: UInt32 = 0xffff
}

/// An NFQUEUE socket bound to one queue: owns the netlink socket, the receive slots and the verdict buffer.
///
/// Configuration chosen deliberately:
/// - copy mode packet, range 0xffff;
/// - `NFQA_CFG_F_GSO` set: the kernel then hands over packets whose checksum is not finished yet
///   (locally generated, offload pending) flagged `NFQA_SKB_CSUMNOTREADY` instead of computing every
///   checksum itself first; the rewrite completes the checksum of a packet it modifies, because the
///   kernel marks a returned payload `CHECKSUM_NONE`. Unmodified packets go back without payload and keep
///   their offload. SYNs are never GSO aggregates, so nothing large is queued;
/// - `NFQA_CFG_F_FAIL_OPEN` when asked;
/// - `NETLINK_NO_ENOBUFS`, so an overflowing receive buffer does not turn into socket errors (the kernel
///   counts the loss in /proc/net/netfilter/nfnetlink_queue instead), and a large `SO_RCVBUFFORCE`.
public final class QueueSocket {
    public let queue: UInt16
    public let configuration: QueueConfiguration
    private let socket: OpaquePointer
    public let fd: Int32
    private let portID: UInt32
    private let syscalls: SyscallTable

    /// Receive slots: each holds one netlink datagram with a full 64 KiB payload and room to grow it.
    public static let slotSize = 65_536 + 4_096
    private let slots: UnsafeMutableRawBufferPointer
    private let batch: OpaquePointer

    /// Opens a netlink socket, binds `queue` and configures it.
    /// - Throws: `QueueError` naming the call and errno; `.kind` tells permission, busy and unsupported apart.
    public init(queue: UInt16, configuration: QueueConfiguration, syscalls: SyscallTable = .system) throws(QueueError) {
        self.queue = queue
        self.configuration = configuration
        self.syscalls = syscalls
        guard let socket = mnl_socket_open(NETLINK_NETFILTER) else {
            throw QueueError(.open, errno: errno, queue: queue)
        }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let error = errno
            mnl_socket_close(socket)
            throw QueueError(.bind, errno: error, queue: queue)
        }
        self.socket = socket
        fd = mnl_socket_get_fd(socket)
        portID = mnl_socket_get_portid(socket)
        let batchSize = max(1, configuration.batchSize)
        slots = UnsafeMutableRawBufferPointer.allocate(byteCount: batchSize * Self.slotSize, alignment: 16)
        guard let batch = CMSSClampShim_batch_create(slots.baseAddress, Self.slotSize, UInt32(batchSize)) else {
            slots.deallocate()
            mnl_socket_close(socket)
            throw QueueError(.open, errno: ENOMEM, queue: queue)
        }
        self.batch = batch
        // Fully initialized from here: if a step below throws, deinit closes the socket and frees the slots.
        try configureSocket()
        // One message: the kernel binds, then applies params, length and flags in the same call, so the
        // queue never runs with the defaults (copy mode none) while traffic may already arrive.
        do {
            try sendConfiguration { header in
                nfq_nlmsg_cfg_put_cmd(header, UInt16(AF_UNSPEC), UInt8(NFQNL_CFG_CMD_BIND.rawValue))
                nfq_nlmsg_cfg_put_params(header, UInt8(NFQNL_COPY_PACKET.rawValue), Int32(QueueConfiguration.copyRange))
                nfq_nlmsg_cfg_put_qmaxlen(header, configuration.maximumLength)
                var flags = UInt32(NFQA_CFG_F_GSO)
                if configuration.failOpen { flags |= UInt32(NFQA_CFG_F_FAIL_OPEN) }
                let mask = UInt32(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN)
                mnl_attr_put_u32(header, UInt16(NFQA_CFG_FLAGS.rawValue), flags.bigEndian)
                mnl_attr_put_u32(header, UInt16(NFQA_CFG_MASK.rawValue), mask.bigEndian)
            }
        } catch where error.errno == EPERM && Self.boundByAnotherProcess(queue, ownPort: portID) {
            // The kernel answers a bind of a queue owned by another socket with EPERM, not EBUSY.
            throw QueueError(.configure, errno: EBUSY, queue: queue)
        }
    }

    /// True when the kernel's table of queues lists `queue` with another netlink port.
    static func boundByAnotherProcess(_ queue: UInt16, ownPort: UInt32) -> Bool {
        KernelQueueStatus.read().contains { $0.queue == queue && $0.portID != ownPort }
    }

    deinit {
        // Closing the socket unbinds the queue; with --queue-bypass rules traffic then flows unqueued.
        mnl_socket_close(socket)
        CMSSClampShim_batch_destroy(batch)
        slots.deallocate()
    }

    private func configureSocket() throws(QueueError) {
        func set(_ level: Int32, _ name: Int32, _ value: Int32) throws(QueueError) {
            guard CMSSClampShim_setsockopt_int(fd, level, name, value) == 0 else {
                throw QueueError(.setsockopt, errno: errno, queue: queue)
            }
        }
        try set(CMSSClampShim_SOL_NETLINK(), CMSSClampShim_NETLINK_NO_ENOBUFS(), 1)
        // SO_RCVBUFFORCE needs CAP_NET_ADMIN, which binding a queue needs anyway.
        try set(SOL_SOCKET, CMSSClampShim_SO_RCVBUFFORCE(), Int32(configuration.receiveBufferBytes))
        // A batch of verdicts with payloads goes out in one send; netlink refuses messages above sndbuf.
        try set(SOL_SOCKET, CMSSClampShim_SO_SNDBUFFORCE(), Int32(4 << 20))
        var timeout = timeval(
            tv_sec: configuration.receiveTimeoutMilliseconds / 1000,
            tv_usec: (configuration.receiveTimeoutMilliseconds % 1000) * 1000)
        guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw QueueError(.setsockopt, errno: errno, queue: queue)
        }
    }

    /// Changes the queue length and fail-open while a worker receives on this socket (a reload, a stop).
    /// Sent without asking for an acknowledgement, since the worker owns the receive side: nfnetlink
    /// applies a configuration synchronously inside the send, so it is in force when this returns. A
    /// refusal would reach the worker as an error message (counted as a verdict error).
    public func reconfigure(maximumLength: UInt32, failOpen: Bool) throws(QueueError) {
        try sendConfiguration(acknowledged: false) { header in
            nfq_nlmsg_cfg_put_qmaxlen(header, maximumLength)
            var flags = UInt32(NFQA_CFG_F_GSO)
            if failOpen { flags |= UInt32(NFQA_CFG_F_FAIL_OPEN) }
            let mask = UInt32(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN)
            mnl_attr_put_u32(header, UInt16(NFQA_CFG_FLAGS.rawValue), flags.bigEndian)
            mnl_attr_put_u32(header, UInt16(NFQA_CFG_MASK.rawValue), mask.bigEndian)
        }
    }

    /// Takes the queue out of the packet path without closing it: length 0 with fail-open, so the kernel
    /// accepts every new packet at once (it continues to the next hook: the kernel safety net) instead of
    /// queuing it, while the packets already queued still wait for their verdicts. Closing the socket
    /// instead would make the kernel drop them (nfqnl_flush with NF_DROP).
    public func bypass() throws(QueueError) {
        try reconfigure(maximumLength: 0, failOpen: true)
    }

    /// Sends one NFQNL_MSG_CONFIG message built by `fill`; with `acknowledged`, asks for an
    /// acknowledgement and waits for it. A packet that arrives before the acknowledgement (the queue is
    /// live from the bind on) is accepted unmodified at once, so it is never left waiting.
    private func sendConfiguration(acknowledged: Bool = true, _ fill: (UnsafeMutablePointer<nlmsghdr>) -> Void)
        throws(QueueError)
    {
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 8)
        defer { request.deallocate() }
        request.initializeMemory(as: UInt8.self, repeating: 0)
        let sequence = UInt32(truncatingIfNeeded: time(nil)) | 1
        guard let header = nfq_nlmsg_put(request.baseAddress!.assumingMemoryBound(to: CChar.self),
                                         Int32(NFQNL_MSG_CONFIG.rawValue), UInt32(queue)) else {
            throw QueueError(.configure, errno: ENOMEM, queue: queue)
        }
        if acknowledged { header.pointee.nlmsg_flags |= UInt16(NLM_F_ACK) }
        header.pointee.nlmsg_seq = sequence
        fill(header)
        guard mnl_socket_sendto(socket, header, Int(header.pointee.nlmsg_len)) >= 0 else {
            throw QueueError(.configure, errno: errno, queue: queue)
        }
        guard acknowledged else { return }
        var early = VerdictBatch(queue: queue)
        while true {
            let received = mnl_socket_recvfrom(socket, slots.baseAddress, Self.slotSize)
            if received < 0 {
                if errno == EINTR { continue }
                throw QueueError(.configure, errno: errno, queue: queue)
            }
            var acknowledged: Int32? = nil
            let datagram = UnsafeMutableRawBufferPointer(rebasing: slots[0..<received])
            QueueMessageParser.forEachMessage(in: datagram, slotEnd: Self.slotSize) { message in
                switch message {
                case .error(let code): acknowledged = code
                case .packet(let packet): early.append(id: packet.id, verdict: .accept)
                default: break
                }
            }
            try send(&early)
            if let code = acknowledged {
                guard code == 0 else { throw QueueError(.configure, errno: code, queue: queue) }
                return
            }
        }
    }

    /// Receives up to a batch of datagrams; returns how many (0 when the receive timed out).
    /// - Throws: `QueueError` for anything but EINTR (retried), EAGAIN (timeout) and ENOBUFS (counted by the
    ///   kernel; with NETLINK_NO_ENOBUFS it should not happen).
    public func receive() throws(QueueError) -> Int {
        try Self.receive(fd: fd, batch: batch, queue: queue, syscalls: syscalls)
    }

    /// The receive loop behind `receive()`, separate so tests can drive it through a fake `SyscallTable`.
    public static func receive(fd: Int32, batch: OpaquePointer, queue: UInt16, syscalls: SyscallTable)
        throws(QueueError) -> Int
    {
        while true {
            let received = syscalls.receive(fd, batch)
            if received >= 0 { return Int(received) }
            switch syscalls.lastError() {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ENOBUFS: return 0
            case let error: throw QueueError(.receive, errno: error, queue: queue)
            }
        }
    }

    /// The datagram in slot `index` of the last receive and the end of the slot it lives in. A datagram the
    /// kernel cut (MSG_TRUNC) needs no flag: the message walk sees its last message cut short.
    @usableFromInline
    func datagram(_ index: Int) -> (bytes: UnsafeMutableRawBufferPointer, slotEnd: Int) {
        let length = CMSSClampShim_batch_length(batch, UInt32(index))
        let start = index * Self.slotSize
        return (UnsafeMutableRawBufferPointer(rebasing: slots[start..<start + length]), Self.slotSize)
    }

    /// Sends every verdict of the batch in one `send` and empties it.
    public func send(_ verdicts: inout VerdictBatch) throws(QueueError) {
        try Self.send(&verdicts, fd: fd, syscalls: syscalls)
    }

    /// The send behind `send(_:)`: EINTR is retried, anything else is a typed error. The batch is emptied
    /// either way, so a failed send never resends stale verdicts.
    public static func send(_ verdicts: inout VerdictBatch, fd: Int32, syscalls: SyscallTable) throws(QueueError) {
        guard !verdicts.isEmpty else { return }
        defer { verdicts.reset() }
        let bytes = verdicts.bytes
        let queue = verdicts.queue
        let result = retryingEINTR(.send, queue: queue, table: syscalls) {
            syscalls.send(fd, bytes.baseAddress!, bytes.count)
        }
        _ = try result.get()
    }
}

extension SyscallTable {
    /// The real system calls.
    public static let system = SyscallTable(
        receive: { fd, batch in CMSSClampShim_batch_receive(fd, batch) },
        send: { fd, buffer, length in CMSSClampShim_send(fd, buffer, length) },
        lastError: { errno })
}
