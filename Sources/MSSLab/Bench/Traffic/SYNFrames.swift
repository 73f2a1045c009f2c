import MSSWire

/// A batch of Linux-like IPv4 SYN frames (MSS 1460, SACK permitted, timestamps, window scale 7) from the
/// generator to the sink's port 80, Ethernet-addressed to the router. Each `refill` gives every frame a
/// new source port, sequence number and timestamp, with correct checksums, so the router sees a stream of
/// distinct connection attempts, as under a real SYN flood.
struct SYNFrames {
    static let length = 74
    static let advertisedMSS: UInt16 = 1460
    let count: Int
    private(set) var bytes: [UInt8]
    private var next: UInt32

    /// `count` frames; `seed` makes each generator thread's ports and sequence numbers its own.
    init(count: Int, seed: UInt32) {
        self.count = count
        next = seed &* 2_654_435_761
        var template = [UInt8](repeating: 0, count: Self.length)
        template.replaceSubrange(0..<6, with: BenchLab.routerMAC)
        template.replaceSubrange(6..<12, with: BenchLab.generatorMAC)
        template[12] = 0x08
        // IPv4: version 4, header 20 bytes, total 60, DF, TTL 64, TCP.
        template.replaceSubrange(14..<34, with: [
            0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 2, 203, 0, 113, 2,
        ])
        let header = template[14..<34].withUnsafeBytes { InternetChecksum.finish(InternetChecksum.add($0)) }
        template[24] = UInt8(header >> 8)
        template[25] = UInt8(header & 0xff)
        // TCP: data offset 10 words, SYN, window 64240.
        template[36] = UInt8(BenchLab.floodPort >> 8)
        template[37] = UInt8(BenchLab.floodPort & 0xff)
        template[46] = 0xa0
        template[47] = 0x02
        template[48] = 0xfa
        template[49] = 0xf0
        let options: [UInt8] = [
            2, 4, UInt8(Self.advertisedMSS >> 8), UInt8(Self.advertisedMSS & 0xff), 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7,
        ]
        template.replaceSubrange(54..<74, with: options)
        bytes = Array((0..<count).map { _ in template }.joined())
    }

    /// New ports, sequence numbers and timestamps for every frame.
    mutating func refill() {
        let pseudo = InternetChecksum.pseudoHeaderIPv4(
            source: 0xc633_6402, destination: 0xcb00_7102, protocolNumber: 6, length: 40)
        var value = next
        bytes.withUnsafeMutableBytes { raw in
            for index in 0..<count {
                let base = index * Self.length
                value = value &* 1_664_525 &+ 1_013_904_223
                let port = UInt16(1024 + (value >> 16) % 64_000)
                raw[base + 34] = UInt8(port >> 8)
                raw[base + 35] = UInt8(port & 0xff)
                raw.storeBytes(of: value.bigEndian, toByteOffset: base + 38, as: UInt32.self)
                raw.storeBytes(of: (value ^ 0x5bd1_e995).bigEndian, toByteOffset: base + 62, as: UInt32.self)
                raw[base + 50] = 0
                raw[base + 51] = 0
                let segment = UnsafeRawBufferPointer(rebasing: raw[(base + 34)..<(base + 74)])
                let checksum = InternetChecksum.finish(InternetChecksum.add(segment, to: pseudo))
                raw[base + 50] = UInt8(checksum >> 8)
                raw[base + 51] = UInt8(checksum & 0xff)
            }
        }
        next = value
    }
}
