import MSSPolicy
import Synchronization

/// Group commit: changes that arrive while a batch is being applied wait, and the next caller applies
/// everything that queued up meanwhile in one go. Each caller still gets the result of its own change.
/// What a batch costs (compiling the policy, say) is paid once for all of it: 64 concurrent `peer add`s
/// cost about what one does.
final class GroupCommit<Change: Sendable, Output: Sendable>: Sendable {
    private final class Ticket: @unchecked Sendable {
        let change: Change
        /// Written and read under `pending`'s lock.
        var result: Result<Output, PolicyError>?
        init(_ change: Change) { self.change = change }
    }

    private let pending = Mutex<[Ticket]>([])
    /// Held by the caller applying a batch.
    private let committer = Mutex(())

    init() {}

    /// Queues `change` and returns its result once a batch holding it was applied by `apply`, which
    /// gets the changes in arrival order and returns one result for each, in the same order.
    func submit(_ change: Change, apply: ([Change]) -> [Result<Output, PolicyError>]) throws(PolicyError) -> Output {
        try submitAll([change], apply: apply)[0].get()
    }

    /// Queues `changes` together (in order) and returns their results.
    func submitAll(_ changes: [Change], apply: ([Change]) -> [Result<Output, PolicyError>]) -> [Result<Output, PolicyError>] {
        let tickets = changes.map(Ticket.init)
        guard let last = tickets.last else { return [] }
        pending.withLock { $0 += tickets }
        committer.withLock { _ in
            // Whoever held the lock before may have applied these changes already.
            let batch = pending.withLock { queue -> [Ticket] in
                guard last.result == nil else { return [] }
                defer { queue.removeAll() }
                return queue
            }
            guard !batch.isEmpty else { return }
            let results = apply(batch.map(\.change))
            pending.withLock { _ in
                for (waiting, result) in zip(batch, results) { waiting.result = result }
            }
        }
        return pending.withLock { _ in tickets.map { $0.result! } }
    }
}
