import Foundation
import MSSSystem
import Synchronization

/// The demo's server, in the lab's server namespace: every connection on port 80 gets `size` bytes, each
/// on a thread of its own (a stalled download must not hold up the next), and the MSS each connection
/// sends with is kept for the report.
final class DemoServer: @unchecked Sendable {
    private let listener: TransferServer
    private let stopping = Atomic(false)
    private let done = DispatchGroup()
    private let segments = Mutex<[Int]>([])

    init(lab: BlackHoleLab, size: Int, port: UInt16) throws(LabFailure) {
        do {
            listener = try NetworkNamespace.run(in: lab.server) { try TransferServer(port: port) }
        } catch {
            throw LabFailure(.failed, "the demo's server: \(error)")
        }
        done.enter()
        Thread { [self] in
            while !stopping.load(ordering: .relaxed) {
                guard let (connection, segment) = listener.accept(timeoutMilliseconds: 100) else { continue }
                segments.withLock { $0.append(segment) }
                Thread { TransferServer.send(size, on: connection) }.start()
            }
            done.leave()
        }.start()
    }

    /// The MSS of each connection so far, oldest first.
    var maximumSegments: [Int] { segments.withLock { $0 } }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        done.wait()
    }
}
