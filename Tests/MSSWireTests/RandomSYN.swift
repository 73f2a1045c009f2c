import WireFixtures

/// Builds random TCP SYN and SYN/ACK packets (IPv4 with options, IPv6 with extension headers) with correct
/// checksums, for property tests. Headers are valid; a fifth of the option areas end in a receiver trap: a
/// duplicate MSS last, an MSS of the wrong length, or an option a receiver cannot walk.
struct RandomSYN {
    var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(state: seed) }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    mutating func bool(_ probability: Double = 0.5) -> Bool {
        Double.random(in: 0..<1, using: &generator) < probability
    }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }

    /// TCP options of a random mix, padded to a multiple of 4 and at most 40 bytes.
    mutating func tcpOptions(allowMSS: Bool) -> [UInt8] {
        var options: [UInt8] = []
        let count = int(0...8)
        for _ in 0..<count {
            var option: [UInt8]
            switch int(0...7) {
            case 0, 1:
                guard allowMSS else { continue }
                let mss = UInt16(int(0...3) == 0 ? int(88...65535) : int(500...1500))
                option = [2, 4, UInt8(mss >> 8), UInt8(mss & 0xff)]
            case 2: option = [1]
            case 3: option = [3, 3, UInt8(int(0...14))]
            case 4: option = [4, 2]
            case 5: option = [8, 10] + bytes(8)
            case 6: option = [34, 10] + bytes(8)  // fast open cookie
            default:
                // An option kind no stack here knows: it must pass through untouched.
                let length = int(2...8)
                option = [UInt8(int(30...253)), UInt8(length)] + bytes(length - 2)
            }
            if options.count + option.count <= 40 { options += option }
        }
        if bool(0.2) {
            // A receiver trap: something a receiver stops at or skips, after what came before.
            var trap: [UInt8]
            switch int(0...4) {
            case 0: trap = [UInt8(int(3...253)), 0]  // length 0
            case 1: trap = [UInt8(int(3...253)), 1]  // length 1
            case 2: trap = [1, UInt8(int(30...253)), 0xff]  // NOP, then a length past the header
            case 3: trap = [2, UInt8([3, 5, 6][int(0...2)]), 5, 0xdc]  // an MSS of the wrong length
            default:
                let mss = UInt16(int(500...1500))
                trap = [2, 4, UInt8(mss >> 8), UInt8(mss & 0xff)]  // one more MSS, last
            }
            if options.count + trap.count <= 40 { options += trap }
        }
        while options.count % 4 != 0 { options.append(bool() ? 1 : 0) }
        return options
    }

    /// A random valid SYN; `mssOptional` lets some packets carry no MSS option at all.
    mutating func packet() -> [UInt8] {
        let ipv6 = bool()
        var options = tcpOptions(allowMSS: bool(0.85))
        if bool(0.1) { options = [] }
        let payload = bool(0.15) ? bytes(int(1...120)) : []
        var tcp: [UInt8] = bytes(4) + bytes(4) + (bool() ? bytes(4) : [0, 0, 0, 0])
        let flags: UInt8 = bool() ? 0x02 : 0x12 | (bool(0.2) ? 0xc0 : 0)
        tcp += [UInt8((20 + options.count) / 4) << 4, flags] + bytes(2) + [0, 0] + bytes(2)
        tcp += options + payload
        var packet: [UInt8]
        if ipv6 {
            var extensions: [UInt8] = []
            var nextHeaders: [UInt8] = []
            if bool(0.3) { nextHeaders.append(0) }  // hop-by-hop must come first
            for _ in 0..<int(0...2) { nextHeaders.append([60, 43, 44][int(0...2)]) }
            var chain: [[UInt8]] = []
            for header in nextHeaders {
                switch header {
                case 44: chain.append([0, 0, 0, 0] + bytes(4))  // atomic fragment: offset 0, M 0
                case 43: chain.append([0, 0, 0, 0, 0, 0, 0, 0])  // routing type 0, segments left 0
                default:
                    let units = int(0...2)
                    chain.append([0, UInt8(units), 1, UInt8(4 + units * 8)] + [UInt8](repeating: 0, count: 4 + units * 8))
                }
            }
            let protocols = nextHeaders + [6]
            for (index, var header) in chain.enumerated() {
                header[0] = protocols[index + 1]
                extensions += header
            }
            let payloadLength = extensions.count + tcp.count
            packet = [0x60, 0, 0, 0, UInt8(payloadLength >> 8), UInt8(payloadLength & 0xff), protocols[0], 64]
            packet += [0x20, 0x01, 0x0d, 0xb8] + bytes(12) + [0x20, 0x01, 0x0d, 0xb8] + bytes(12)
            packet += extensions + tcp
        } else {
            let ipOptions: [UInt8] = bool(0.2) ? [0x94, 0x04, 0, 0] + (bool() ? [1, 1, 1, 0] : []) : []
            let total = 20 + ipOptions.count + tcp.count
            packet = [0x40 | UInt8((20 + ipOptions.count) / 4), 0, UInt8(total >> 8), UInt8(total & 0xff)]
            packet += bytes(2) + [bool() ? 0x40 : 0, 0, UInt8(int(1...255)), 6, 0, 0]
            packet += [198, 51, 100, UInt8(int(1...254)), 203, 0, 113, UInt8(int(1...254))] + ipOptions + tcp
            let checksum = ~UInt16(Oracle.sum(packet[0..<20 + ipOptions.count]))
            packet[10] = UInt8(checksum >> 8)
            packet[11] = UInt8(checksum & 0xff)
        }
        Oracle.setTCPChecksum(&packet, Oracle.tcpChecksum(packet))
        return packet
    }
}
