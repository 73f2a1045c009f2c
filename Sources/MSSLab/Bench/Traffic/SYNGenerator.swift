import Foundation
import MSSSystem
import Synchronization

/// SYNs at the full rate of one or more threads, each pinned to a CPU of its own, each with an AF_PACKET
/// socket on the generator's link (`FrameSender`). What a thread cannot hand the kernel at once it tries
/// again at once: the rate is what the machine takes, not a target.
final class SYNGenerator: @unchecked Sendable {
    private let stopping = Atomic(false)
    private let sent = Atomic<UInt64>(0)
    private var threads: [Thread] = []
    private let finished = DispatchGroup()
    private let failure = Mutex<String?>(nil)
    static let batch = 256

    /// Starts `threads` sender threads (thread N on CPU N) in the lab's generator namespace.
    /// - Parameter rate: SYNs per second in all, shared by the threads; nil: as fast as they go.
    init(lab: BenchLab, threads count: Int, rate: Double? = nil) throws(LabFailure) {
        var senders: [FrameSender] = []
        do {
            for _ in 0..<count {
                senders.append(try NetworkNamespace.run(in: lab.generator) { try FrameSender(interface: BenchLab.generatorInterface) })
            }
        } catch {
            throw LabFailure(.failed, "the SYN generator: \(error)")
        }
        for (index, sender) in senders.enumerated() {
            finished.enter()
            let thread = Thread { [self] in
                ThreadAffinity.pin(cpu: index % ThreadAffinity.onlineCPUs)
                var frames = SYNFrames(count: Self.batch, seed: UInt32(index + 1) &* UInt32(truncatingIfNeeded: getpid()))
                var local: UInt64 = 0
                let started = monotonicNanoseconds()
                let perThread = rate.map { $0 / Double(count) }
                while !stopping.load(ordering: .relaxed) {
                    if let perThread {
                        // Paced: the next batch waits until the rate says it is due.
                        let due = started + Int64(Double(local) / perThread * 1e9)
                        let early = due - monotonicNanoseconds()
                        if early > 0 { usleep(UInt32(min(early / 1000, 100_000))) }
                        if due > monotonicNanoseconds() { continue }
                    }
                    frames.refill()
                    let taken: Int
                    do {
                        taken = try frames.bytes.withUnsafeBytes { try sender.send($0, length: SYNFrames.length, count: Self.batch) }
                    } catch {
                        failure.withLock { $0 = "\(error)" }
                        break
                    }
                    local += UInt64(taken)
                    if taken == 0 { sched_yield() }
                }
                sent.add(local, ordering: .relaxed)
                finished.leave()
            }
            thread.start()
            threads.append(thread)
        }
    }

    /// Stops every thread and returns the frames the kernel took, in all.
    func stop() throws(LabFailure) -> UInt64 {
        stopping.store(true, ordering: .relaxed)
        finished.wait()
        if let message = failure.withLock({ $0 }) { throw LabFailure(.failed, "the SYN generator: \(message)") }
        return sent.load(ordering: .relaxed)
    }
}
