import Foundation
import MSSProcess
import MSSSystem

/// `mssclamp lab demo`: the main job, shown. In a fresh `BlackHoleLab`, a 2 MB download from the server
/// stalls, for IPv4 and IPv6; then `mssclamp run --install-rules` starts on the gateway and the same
/// downloads complete, and the server shows the MSS it was given. The lab goes away however it ends.
public enum LabDemo {
    public struct Options: Sendable {
        /// The namespace prefix (the lab's four names start with it).
        public var name: String
        public var narrowMTU: Int
        /// The ceilings mssclamp runs with; nil: what the narrow link carries (the MTU less the IP and TCP
        /// headers).
        public var mss: Int
        public var mss6: Int
        /// This program, run on the gateway as `mssclamp run` and `mssclamp rules remove`.
        public var executable: String

        public init(name: String, narrowMTU: Int, mss: Int, mss6: Int, executable: String) {
            self.name = name
            self.narrowMTU = narrowMTU
            self.mss = mss
            self.mss6 = mss6
            self.executable = executable
        }
    }

    /// One download, as the demo reports it.
    public struct Outcome: Sendable {
        public var family: String
        public var withMSSClamp: Bool
        public var download: TCPTransfer.Download
        /// The MSS the server sent with (TCP_MAXSEG), when it saw the connection.
        public var serverMSS: Int?
    }

    static let size = 2 * 1024 * 1024
    static let port: UInt16 = 80
    /// Without mssclamp a download is called stalled after this long without a byte.
    static let stallSeconds = 4.0

    /// Runs the demo; `say` gets each line as it happens.
    /// - Returns: the four downloads; the demo made its point when both without stalled and both with
    ///   completed.
    public static func run(_ options: Options, say: (String) -> Void) throws(LabFailure) -> [Outcome] {
        let lab = BlackHoleLab(name: options.name, narrowMTU: options.narrowMTU)
        say("building the lab: \(lab.namespaces.joined(separator: ", ")); gateway-middle link MTU \(options.narrowMTU), "
            + "the middle router drops 'fragmentation needed' and 'packet too big'")
        try lab.up()
        defer { lab.down() }
        let server = try DemoServer(lab: lab, size: size, port: port)
        defer { server.stop() }
        var outcomes: [Outcome] = []
        say("without mssclamp: full-size segments vanish at the narrow link, and nobody says why")
        for (family, address) in [("IPv4", BlackHoleLab.serverIPv4), ("IPv6", BlackHoleLab.serverIPv6)] {
            try checkInterrupt()
            outcomes.append(try fetch(family, address, lab: lab, server: server, with: false, limit: 12, say: say))
        }
        say("starting mssclamp run --mss \(options.mss) --mss6 \(options.mss6) --queue 0 --install-rules on the gateway")
        let work = try workDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let log = work + "/daemon.log"
        let daemon: BackgroundChild
        do {
            daemon = try BackgroundChild(
                Tool.inside(lab.gateway, [
                    options.executable, "run", "--mss", "\(options.mss)", "--mss6", "\(options.mss6)", "--queue", "0",
                    "--install-rules", "--control-socket", "none",
                ]), outputPath: log)
        } catch {
            throw LabFailure(.failed, "mssclamp run: \(error)")
        }
        defer {
            daemon.signal(SIGTERM)
            if daemon.wait(seconds: 30) == nil { daemon.signalGroup(SIGKILL) }
            Tool.attempt(Tool.inside(lab.gateway, [options.executable, "rules", "remove"]))
        }
        let deadline = Date().addingTimeInterval(30)
        while !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("clamping on queue") ?? false) {
            try checkInterrupt()
            if let status = daemon.exitStatus {
                throw LabFailure(.failed, "mssclamp run exited \(status): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            guard Date() < deadline else { throw LabFailure(.failed, "mssclamp run did not start clamping within 30 s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        for line in ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n") { say("    \(line)") }
        for (family, address) in [("IPv4", BlackHoleLab.serverIPv4), ("IPv6", BlackHoleLab.serverIPv6)] {
            try checkInterrupt()
            outcomes.append(try fetch(family, address, lab: lab, server: server, with: true, limit: 30, say: say))
        }
        return outcomes
    }

    static func fetch(
        _ family: String, _ address: String, lab: BlackHoleLab, server: DemoServer, with: Bool, limit: Double,
        say: (String) -> Void
    ) throws(LabFailure) -> Outcome {
        let before = server.maximumSegments.count
        let download: TCPTransfer.Download
        do {
            download = try NetworkNamespace.run(in: lab.client) {
                TCPTransfer.download(from: address, port: port, stallSeconds: stallSeconds, limitSeconds: limit)
            }
        } catch {
            throw LabFailure(.failed, "the download: \(error)")
        }
        let segments = server.maximumSegments
        let outcome = Outcome(
            family: family, withMSSClamp: with, download: download, serverMSS: segments.count > before ? segments.last : nil)
        say("    \(family) \(with ? "with" : "without") mssclamp: \(describe(outcome))")
        return outcome
    }

    /// "completed: 2097152 bytes in 0.04 s" or "STALLED: ...".
    public static func describe(_ outcome: Outcome) -> String {
        let download = outcome.download
        if download.completed {
            var text = "completed: \(download.bytes) bytes in \(String(format: "%.3f", download.seconds)) s"
            if outcome.withMSSClamp, let mss = outcome.serverMSS { text += " (MSS at the server \(mss))" }
            return text
        }
        return "STALLED: \(download.failure ?? "did not complete"), \(download.bytes) of \(size) bytes"
    }

    static func checkInterrupt() throws(LabFailure) {
        if let signal = ProcessSignals.interrupted { throw LabFailure(.interrupted(signal), "interrupted") }
    }

    static func workDirectory() throws(LabFailure) -> String {
        var template = Array("/run/mslab-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw LabFailure(.failed, "cannot create a private directory under /run: \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }
}
