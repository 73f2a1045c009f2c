// Validating the settings tables of a policy file: [queue], [defaults] and [control].

extension PolicyReader {
    mutating func readQueue(_ table: TOMLTable, into queue: inout QueueSettings) {
        if let entry = table["num"] {
            switch entry.value.kind {
            case .integer(let number) where ValueRange.queueNumber.contains(number): queue.num = String(number)
            case .string(let text) where QueueRange(parsing: text) != nil: queue.num = text
            default:
                let expected = "a queue number N or a range \"N-M\" \(ValueRange.queueNumber.within)"
                fail(entry.line, "queue.num", "must be \(expected)")
            }
        }
        if let entry = table["fail_open"] { queue.failOpen = boolean(entry, "queue.fail_open") }
        if let entry = table["cpu_fanout"] { queue.cpuFanout = boolean(entry, "queue.cpu_fanout") }
        if let entry = table["maxlen"] { queue.maxlen = integer(entry, "queue.maxlen", in: .queueMaxlen) }
        if let entry = table["batch"] { queue.batch = integer(entry, "queue.batch", in: .queueBatch) }
        if let entry = table["instance"], let name = string(entry, "queue.instance") {
            if Instance(name: name) == nil {
                fail(entry.line, "queue.instance", "'\(name)' is not an instance name (1-10 of letters, digits, _ and -)")
            } else {
                queue.instance = name
            }
        }
        if let entry = table["rate"] { queue.rate = integer(entry, "queue.rate", in: .queueRate) }
        if let entry = table["burst"] { queue.burst = integer(entry, "queue.burst", in: .queueBurst) }
        if let entry = table["interfaces"], let names = strings(entry, "queue.interfaces") {
            if names.isEmpty { fail(entry.line, "queue.interfaces", "is empty: leave it out for an instance that takes every SYN") }
            for name in names where !InterfaceName.isValid(name) {
                fail(entry.line, "queue.interfaces", "'\(name)' is not an interface name (\(InterfaceName.rule))")
            }
            queue.interfaces = names
        }
        if let entry = table["hooks"] {
            if let hooks = strings(entry, "queue.hooks") {
                for hook in hooks where Hook(rawValue: hook) == nil {
                    fail(entry.line, "queue.hooks", "unknown hook '\(hook)'; use forward, output, prerouting, postrouting")
                }
                queue.hooks = hooks
            }
        }
    }

    mutating func readDefaults(_ table: TOMLTable, into configuration: inout PolicyConfiguration) {
        var ipv4 = configuration.defaults.ipv4
        var ipv6: UInt16?? = nil
        if let entry = table["mss4"] {
            if entry.value.kind == .string("none") { ipv4 = nil } else { ipv4 = mss(entry, "defaults.mss4", allowNone: true) ?? ipv4 }
        }
        if let entry = table["mss6"] {
            if entry.value.kind == .string("none") {
                ipv6 = .some(nil)
            } else if let value = mss(entry, "defaults.mss6", allowNone: true) {
                ipv6 = .some(value)
            }
        }
        configuration.defaults = Ceilings(ipv4: ipv4, ipv6: ipv6 ?? ipv4.map(Ceilings.ipv6Default(forIPv4:)))
        if let entry = table["insert_missing"], let value = boolean(entry, "defaults.insert_missing") {
            configuration.insertMissing = value
        }
        if let entry = table["malformed"], let value = string(entry, "defaults.malformed") {
            switch value {
            case "accept": configuration.dropMalformed = false
            case "drop": configuration.dropMalformed = true
            default: fail(entry.line, "defaults.malformed", "must be \"accept\" or \"drop\", got \"\(value)\"")
            }
        }
    }

    mutating func readControl(_ table: TOMLTable, into configuration: inout PolicyConfiguration) {
        if let entry = table["group"], let group = string(entry, "control.group") {
            if !group.isEmpty, group.utf8.count <= 32, !group.contains(":"), !group.contains(" "), !group.contains("/") {
                configuration.controlGroup = group
            } else {
                fail(entry.line, "control.group", "'\(group)' is not a group name")
            }
        }
        if let entry = table["socket"], let path = string(entry, "control.socket") {
            if path.hasPrefix("/") {
                configuration.controlSocket = path
                configuration.controlSocketGiven = true
            } else {
                fail(entry.line, "control.socket", "must be an absolute path, got '\(path)'")
            }
        }
    }

    /// `[strongswan] socket`: charon's VICI socket, as a path or as charon's own `unix://` URI.
    mutating func readStrongSwan(_ table: TOMLTable, into configuration: inout PolicyConfiguration) {
        guard let entry = table["socket"], let given = string(entry, "strongswan.socket") else { return }
        let path = given.hasPrefix("unix://") ? String(given.dropFirst("unix://".count)) : given
        if !path.hasPrefix("/") {
            fail(entry.line, "strongswan.socket", "must be an absolute path (or unix:///PATH), got '\(given)'")
        } else if path.utf8.count > 107 {
            fail(entry.line, "strongswan.socket", "a Unix socket path holds at most 107 bytes")
        } else {
            configuration.strongswanSocket = path
        }
    }
}
