import FerryProtocol
import Synchronization

/// Collects deliveries for a batched handler and cuts batches by size or by wait.
///
/// The I/O thread appends; one consumer task awaits ``next()``. A timer task per pending
/// batch (not per event) wakes the consumer when the batch's wait is over.
final class BatchBuffer: Sendable {
    private struct State {
        var items: [Delivery] = []
        var firstArrival: ContinuousClock.Instant?
        var waiter: CheckedContinuation<Void, Never>?
        /// Whether the waiter waits for a first item (no batch pending) rather than a deadline.
        var waiterWantsFirst = false
        var closed = false
    }

    let options: BatchOptions
    private let state = Mutex(State())

    init(options: BatchOptions) {
        self.options = options
    }

    /// Adds deliveries; returns false if the buffer is closed (the caller hands them back).
    func append(_ deliveries: [Delivery]) -> Bool {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.closed else { return nil }
            if state.items.isEmpty { state.firstArrival = .now }
            state.items.append(contentsOf: deliveries)
            guard state.waiterWantsFirst || state.items.count >= options.maxSize else { return nil }
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
        return !state.withLock { $0.closed }
    }

    /// Stops accepting; ``next()`` returns what is left, then nil.
    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The next batch: full, or as old as `maxWait`, or the remainder once closed.
    func next() async -> [Delivery]? {
        while true {
            enum Step {
                case batch([Delivery])
                case finished
                case wait(until: ContinuousClock.Instant?)
            }
            let step: Step = state.withLock { state in
                let ready =
                    state.items.count >= options.maxSize || state.closed
                    || (state.firstArrival.map { $0 + options.maxWait <= .now } ?? false)
                if ready && !state.items.isEmpty {
                    let count = min(options.maxSize, state.items.count)
                    let batch = Array(state.items.prefix(count))
                    state.items.removeFirst(count)
                    state.firstArrival = state.items.isEmpty ? nil : .now
                    return .batch(batch)
                }
                if state.closed { return .finished }
                return .wait(until: state.firstArrival.map { $0 + options.maxWait })
            }
            switch step {
            case .batch(let batch): return batch
            case .finished: return nil
            case .wait(let deadline):
                let timer = deadline.map { deadline in
                    Task { [weak self] in
                        try? await Task.sleep(until: deadline, clock: .continuous)
                        self?.wake()
                    }
                }
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state in
                        // Re-check under the lock: something may have arrived meanwhile.
                        let due = state.firstArrival.map { $0 + options.maxWait <= .now } ?? false
                        if state.closed || state.items.count >= options.maxSize || due || (deadline == nil && !state.items.isEmpty) {
                            return true
                        }
                        state.waiter = continuation
                        state.waiterWantsFirst = deadline == nil
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
                timer?.cancel()
            }
        }
    }

    private func wake() {
        let waiter = state.withLock { state in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
