import Foundation
import MSSSystem
import Synchronization

/// Real TCP handshakes through the router: a listener in the sink answers on port 8080, and connects from
/// the generator namespace are timed from connect() to the established connection (the SYN and the
/// SYN/ACK both cross the router, and both are clamped there).
final class HandshakeTimer: @unchecked Sendable {
    private let lab: BenchLab
    private let stopping = Atomic(false)
    private let served = DispatchGroup()

    /// Starts the listener in the sink.
    init(lab: BenchLab) throws(LabFailure) {
        self.lab = lab
        let listener: TCPListener
        do {
            listener = try NetworkNamespace.run(in: lab.sink) { try TCPListener(port: BenchLab.handshakePort) }
        } catch {
            throw LabFailure(.failed, "the handshake listener: \(error)")
        }
        served.enter()
        Thread { [self] in
            listener.serve { stopping.load(ordering: .relaxed) }
            served.leave()
        }.start()
    }

    /// Handshakes made before each row is timed, and not counted: the first of a row pays for what the
    /// row's setup left cold (neighbour entries, the daemon's first batch).
    static let warmUp = 20

    /// Times `count` handshakes, one after another, after `warmUp` untimed ones; microseconds of each
    /// that completed, and how many did not complete within a second.
    func time(count: Int, stop: () -> Bool) throws(LabFailure) -> (microseconds: [Double], failed: Int) {
        do {
            return try NetworkNamespace.run(in: lab.generator) {
                for _ in 0..<Self.warmUp where !stop() {
                    _ = TCPHandshake.timedConnect(to: BenchLab.sinkAddress, port: BenchLab.handshakePort, timeoutMilliseconds: 1000)
                }
                var samples: [Double] = []
                var failed = 0
                for _ in 0..<count where !stop() {
                    if let nanoseconds = TCPHandshake.timedConnect(
                        to: BenchLab.sinkAddress, port: BenchLab.handshakePort, timeoutMilliseconds: 1000)
                    {
                        samples.append(Double(nanoseconds) / 1000)
                    } else {
                        failed += 1
                    }
                }
                return (samples, failed)
            }
        } catch {
            throw LabFailure(.failed, "timing handshakes: \(error)")
        }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        served.wait()
    }
}
