/// The rows of `mssclamp bench`: what the router does to the SYNs, and how hard they come.
public enum BenchRow: String, CaseIterable, Codable, Sendable {
    /// Plain forwarding: what the machine moves with nothing in the path.
    case noRule = "no-rule"
    /// The kernel's TCPMSS target, the yardstick: `-m tcpmss --mss 1361:65535 -j TCPMSS --set-mss 1360`.
    case kernelTCPMSS = "kernel-tcpmss"
    /// mssclamp's kernel safety net alone (`rules apply --backend nft-map`): the kernel clamps.
    case safetyNet = "safety-net"
    /// `mssclamp run --install-rules --queue-rate 0` on one queue: every SYN through the queue, none shed.
    case runOneQueue = "run-1-queue"
    /// The same on `--queue 0-(N-1)`, a worker per queue.
    case runQueues = "run-n-queues"
    /// TCPMSS under a flood from every CPU.
    case floodKernel = "flood-kernel-tcpmss"
    /// `mssclamp run --install-rules` with its defaults under the same flood: past the queue's rate, the
    /// daemon sheds to the safety net.
    case floodRun = "flood-run"
    /// `run-1-queue` with `--no-detect`: the same queue without the black-hole watch, so that the ratio of
    /// the two is what the watch costs the SYN path. Not a default row (`scripts/bench queue` runs it).
    case runOneQueueNoDetect = "run-1-queue-no-detect"
    /// `flood-run` with `--no-detect`. Not a default row (`scripts/bench flood` runs it).
    case floodRunNoDetect = "flood-run-no-detect"

    /// The rows a plain `mssclamp bench` runs: what an operator asks first, in under a minute.
    public static let defaults: [BenchRow] = [
        .noRule, .kernelTCPMSS, .safetyNet, .runOneQueue, .runQueues, .floodKernel, .floodRun,
    ]

    /// The row's name in the table.
    func title(queues: Int) -> String {
        switch self {
        case .noRule: "no rule (forwarding)"
        case .kernelTCPMSS: "kernel TCPMSS"
        case .safetyNet: "mssclamp safety net alone"
        case .runOneQueue: "mssclamp run, 1 queue, no shedding"
        case .runQueues: "mssclamp run, \(queues) queues, no shedding"
        case .floodKernel: "flood: kernel TCPMSS"
        case .floodRun: "flood: mssclamp run"
        case .runOneQueueNoDetect: "mssclamp run, 1 queue, --no-detect"
        case .floodRunNoDetect: "flood: mssclamp run --no-detect"
        }
    }

    /// A flood comes from a generator thread on every CPU; the other rows from one, on CPU 0, so the
    /// router's work has the other CPUs.
    var isFlood: Bool { self == .floodKernel || self == .floodRun || self == .floodRunNoDetect }

    /// Whether the row's daemon runs with `--no-detect` (the black-hole watch off).
    var withoutWatch: Bool { self == .runOneQueueNoDetect || self == .floodRunNoDetect }

    /// The row that differs from this one only by `--no-detect`, for the watch's cost.
    var withoutDetection: BenchRow? {
        switch self {
        case .runOneQueue: .runOneQueueNoDetect
        case .floodRun: .floodRunNoDetect
        default: nil
        }
    }

    /// Whether the row clamps (its SYNs should all arrive at or below the ceiling).
    var clamps: Bool { self != .noRule }

    /// What the row's rate is compared with: the kernel's TCPMSS under the same load.
    var baseline: BenchRow? {
        switch self {
        case .noRule, .kernelTCPMSS, .floodKernel: nil
        case .safetyNet, .runOneQueue, .runQueues, .runOneQueueNoDetect: .kernelTCPMSS
        case .floodRun, .floodRunNoDetect: .floodKernel
        }
    }

    /// A flood gets a second to warm up before it is counted: the daemon needs a moment to see it and
    /// start shedding. The other rows a third of a second.
    var warmUp: Double { isFlood ? 1.0 : 0.3 }
}
