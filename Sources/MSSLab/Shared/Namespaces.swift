#if canImport(Glibc)
    import Glibc
#endif

/// Named network namespaces, as the labs make and remove them (`ip netns`).
enum Namespaces {
    /// Adds `name` with its loopback up.
    static func add(_ name: String) throws(LabFailure) {
        try Tool.run(["ip", "netns", "add", name])
        try Tool.run(Tool.inside(name, ["ip", "link", "set", "lo", "up"]))
    }

    /// The namespaces whose names start with `prefix`.
    static func list(prefix: String) -> [String] {
        guard let listing = try? Tool.run(["ip", "netns", "list"]) else { return [] }
        return listing.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first.map(String.init)
        }.filter { $0.hasPrefix(prefix) }
    }

    /// Stops every process in `name` (a daemon or server a killed run left behind) and deletes it.
    static func remove(_ name: String) {
        if let pids = try? Tool.run(["ip", "netns", "pids", name]) {
            for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
        Tool.attempt(["ip", "netns", "del", name])
    }
}
