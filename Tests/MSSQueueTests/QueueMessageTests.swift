import Glibc
import MSSQueue
import Testing

/// Builds netlink messages the way the kernel does, field by field, to feed the parser.
enum KernelMessage {
    static func host16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value, Array.init) }
    static func host32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value, Array.init) }
    static func be16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.bigEndian, Array.init) }
    static func be32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian, Array.init) }

    static func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
        let bytes = host16(UInt16(4 + value.count)) + host16(type) + value
        return bytes + [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
    }

    /// An NFQNL_MSG_PACKET message: packet header, interfaces, mark, skb info, optional cap len, payload.
    static func packet(
        id: UInt32, payload: [UInt8], skbInfo: UInt32 = 0, capturedLength: UInt32? = nil, inInterface: UInt32 = 3,
        outInterface: UInt32 = 4, mark: UInt32 = 0x2a
    ) -> [UInt8] {
        var attributes = attribute(1, be32(id) + be16(0x0800) + [2])  // hook FORWARD
        attributes += attribute(3, be32(mark))
        attributes += attribute(5, be32(inInterface))
        attributes += attribute(6, be32(outInterface))
        attributes += attribute(14, be32(skbInfo))
        if let capturedLength { attributes += attribute(13, be32(capturedLength)) }
        attributes += attribute(10, payload)
        let body = [2, 0] + be16(0) + attributes  // nfgenmsg: AF_INET, version 0, queue 0
        // nlmsghdr: length, type (3 << 8 | 0), flags, sequence, port id.
        return host32(UInt32(16 + body.count)) + host16(0x0300) + host16(0) + host32(0) + host32(0) + body
    }

    static func errorAck(_ code: Int32) -> [UInt8] {
        host32(36) + host16(2) + host16(0) + host32(0) + host32(0) + host32(UInt32(bitPattern: code))
            + [UInt8](repeating: 0, count: 16)
    }
}

func parse(_ datagram: [UInt8], slot: Int = 4096) -> [QueueMessage] {
    var storage = datagram + [UInt8](repeating: 0xee, count: max(0, slot - datagram.count))
    var messages: [QueueMessage] = []
    storage.withUnsafeMutableBytes { bytes in
        QueueMessageParser.forEachMessage(
            in: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<datagram.count]), slotEnd: bytes.count
        ) { messages.append($0) }
    }
    return messages
}

@Suite("nfnetlink_queue messages")
struct QueueMessageTests {
    let payload: [UInt8] = Array(0..<60)

    @Test func packetAttributes() throws {
        let message = KernelMessage.packet(id: 77, payload: payload, skbInfo: 1)
        let parsed = parse(message)
        #expect(parsed.count == 1)
        guard case .packet(let packet) = try #require(parsed.first) else {
            Issue.record("not a packet: \(parsed)")
            return
        }
        #expect(packet.id == 77)
        #expect(packet.hook == 2)
        #expect(Array(packet.payload) == payload)
        #expect(packet.mark == 0x2a)
        #expect(packet.inInterface == 3 && packet.outInterface == 4)
        #expect(!packet.checksumReady)
        #expect(!packet.isTruncated)
        // The payload is the last attribute: the slot after it is room to grow.
        #expect(packet.capacity == 4096 - (message.count - payload.count))
    }

    @Test func truncatedPayloadIsFlagged() throws {
        let parsed = parse(KernelMessage.packet(id: 5, payload: payload, capturedLength: 1500))
        guard case .packet(let packet) = try #require(parsed.first) else { Issue.record("not a packet"); return }
        #expect(packet.isTruncated)
        #expect(packet.originalLength == 1500)
    }

    @Test func severalMessagesAndAnErrorInOneDatagram() {
        let datagram = KernelMessage.packet(id: 1, payload: [1, 2, 3]) + KernelMessage.errorAck(-ENOENT)
            + KernelMessage.packet(id: 2, payload: payload)
        let parsed = parse(datagram)
        #expect(parsed.count == 3)
        if case .packet(let first) = parsed[0] { #expect(first.id == 1 && first.payload.count == 3) }
        if case .error(let code) = parsed[1] { #expect(code == ENOENT) } else { Issue.record("no error ack") }
        if case .packet(let second) = parsed[2] { #expect(second.id == 2) } else { Issue.record("third missing") }
    }

    /// A payload may grow only into room that belongs to nobody: the last message of a datagram into the
    /// slot after it, a message followed by another only within its own bytes (an inserted MSS option
    /// would otherwise overwrite the next message's header).
    @Test func onlyTheLastMessageMayGrowIntoTheSlot() {
        let first = KernelMessage.packet(id: 1, payload: payload)
        let second = KernelMessage.packet(id: 2, payload: payload)
        let parsed = parse(first + second)
        guard parsed.count == 2, case .packet(let one) = parsed[0], case .packet(let two) = parsed[1] else {
            Issue.record("expected two packets: \(parsed)")
            return
        }
        #expect(one.capacity == payload.count, "the first payload must not grow into the second message")
        #expect(two.capacity == 4096 - first.count - (second.count - payload.count))
    }

    @Test func messageCutShortStillYieldsItsID() throws {
        let message = KernelMessage.packet(id: 9, payload: payload)
        let parsed = parse(Array(message.prefix(message.count - 20)))
        guard case .packet(let packet) = try #require(parsed.first) else { Issue.record("lost the id"); return }
        #expect(packet.id == 9)
        #expect(packet.payload.count == 0)
    }

    @Test func garbageNeverTraps() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            var bytes = KernelMessage.packet(id: 3, payload: payload)
            for _ in 0..<3 { bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            let count = Int.random(in: 0...bytes.count, using: &generator)
            _ = parse(Array(bytes.prefix(count)))
        }
        #expect(parse([1, 2, 3]).isEmpty)
        #expect(parse([UInt8](repeating: 0, count: 16)).count == 1)  // length 0: malformed, and the walk ends
    }
}

@Suite("Verdict batches")
struct VerdictBatchTests {
    /// Reads the verdict messages back with plain byte arithmetic.
    func decode(_ bytes: UnsafeRawBufferPointer) -> [(id: UInt32, verdict: UInt32, payload: [UInt8]?)] {
        var result: [(UInt32, UInt32, [UInt8]?)] = []
        var offset = 0
        func h16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func b32(_ at: Int) -> UInt32 { bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        while offset < bytes.count {
            let length = h16(offset)
            #expect(h16(offset + 4) == 0x0301)  // NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_VERDICT
            #expect(h16(offset + 6) == 1)  // NLM_F_REQUEST
            #expect(bytes[offset + 18] == 0 && bytes[offset + 19] == 7)  // queue 7, big-endian
            #expect(h16(offset + 20) == 12 && h16(offset + 22) == 2)
            var payload: [UInt8]?
            if length > 32 {
                #expect(h16(offset + 34) == 10)
                payload = Array(bytes[offset + 36..<offset + h16(offset + 32) + 32])
            }
            result.append((b32(offset + 28), b32(offset + 24), payload))
            offset += (length + 3) & ~3
        }
        return result
    }

    @Test func layout() {
        var batch = VerdictBatch(queue: 7)
        batch.append(id: 10, verdict: .accept)
        [UInt8](repeating: 0xab, count: 61).withUnsafeBytes { batch.append(id: 11, verdict: .accept, payload: $0) }
        batch.append(id: 12, verdict: .drop)
        let count = batch.count
        let length = batch.bytes.count
        #expect(count == 3)
        #expect(length == 32 + (36 + 61 + 3) + 32)
        let decoded = decode(batch.bytes)
        #expect(decoded.map(\.id) == [10, 11, 12])
        #expect(decoded.map(\.verdict) == [1, 1, 0])
        #expect(decoded[1].payload == [UInt8](repeating: 0xab, count: 61))
        #expect(decoded[0].payload == nil && decoded[2].payload == nil)
        batch.reset()
        let emptied = batch.isEmpty && batch.bytes.count == 0
        #expect(emptied)
    }

    @Test func roomIsCheckedForTheLargestPayload() {
        var batch = VerdictBatch(queue: 0, capacity: VerdictBatch.largestMessage)
        let roomWhenEmpty = batch.hasRoom(forPayload: 65_535)
        #expect(roomWhenEmpty)
        batch.append(id: 1, verdict: .accept)
        let roomAfterOne = batch.hasRoom(forPayload: 65_535)
        #expect(!roomAfterOne)
    }
}

/// Counts calls and replays scripted results.
final class ScriptedSyscalls: @unchecked Sendable {
    var results: [(Int, Int32)]
    var calls = 0
    var lastErrno: Int32 = 0
    init(_ results: [(Int, Int32)]) { self.results = results }

    func next() -> Int {
        calls += 1
        let (value, error) = results.removeFirst()
        lastErrno = error
        return value
    }

    var table: SyscallTable {
        SyscallTable(
            receive: { _, _ in Int32(self.next()) },
            send: { _, _, _ in self.next() },
            lastError: { self.lastErrno })
    }
}

@Suite("Syscall wrappers")
struct SyscallWrapperTests {
    let fakeBatch = OpaquePointer(bitPattern: 0x1000)!

    @Test func receiveRetriesEINTRAndTreatsTimeoutsAsEmpty() throws {
        let script = ScriptedSyscalls([(-1, EINTR), (-1, EINTR), (5, 0)])
        #expect(try QueueSocket.receive(fd: 3, batch: fakeBatch, queue: 0, syscalls: script.table) == 5)
        #expect(script.calls == 3)
        for error in [EAGAIN, ENOBUFS] {
            let timeout = ScriptedSyscalls([(-1, error)])
            #expect(try QueueSocket.receive(fd: 3, batch: fakeBatch, queue: 0, syscalls: timeout.table) == 0)
        }
    }

    @Test func receiveErrorsAreTyped() {
        let script = ScriptedSyscalls([(-1, EBADF)])
        #expect(throws: QueueError(.receive, errno: EBADF, queue: 2)) {
            try QueueSocket.receive(fd: 3, batch: fakeBatch, queue: 2, syscalls: script.table)
        }
    }

    @Test func sendRetriesEINTRAndAlwaysEmptiesTheBatch() throws {
        var batch = VerdictBatch(queue: 1)
        batch.append(id: 1, verdict: .accept)
        let script = ScriptedSyscalls([(-1, EINTR), (32, 0)])
        try QueueSocket.send(&batch, fd: 3, syscalls: script.table)
        #expect(script.calls == 2)
        var emptied = batch.isEmpty
        #expect(emptied)
        batch.append(id: 2, verdict: .accept)
        let failing = ScriptedSyscalls([(-1, EMSGSIZE)])
        #expect(throws: QueueError(.send, errno: EMSGSIZE, queue: 1)) {
            try QueueSocket.send(&batch, fd: 3, syscalls: failing.table)
        }
        emptied = batch.isEmpty
        #expect(emptied)
    }

    @Test func errorKindsAndMessages() {
        #expect(QueueError(.configure, errno: EPERM, queue: 0).kind == .permission)
        #expect(QueueError(.configure, errno: EBUSY, queue: 0).kind == .busy)
        #expect(QueueError(.configure, errno: EBUSY, queue: 3).description.contains("queue 3 is already bound"))
        #expect(QueueError(.configure, errno: EOPNOTSUPP).kind == .unsupported)
        #expect(QueueError(.configure, errno: EINVAL).description.contains("no nfnetlink_queue support"))
        #expect(QueueError(.receive, errno: EBADF).kind == .failed)
    }
}
