import Synchronization

/// Collects deliveries (`Element`) for a batched handler and cuts batches by size or by wait.
///
/// The I/O thread appends. Two long-lived child tasks of the group's runner drive it, never a
/// task per batch or per event: ``consume(_:)`` hands out batches when one is full, due or left
/// over at close, and ``runTimer()`` sleeps until the pending batch's deadline and then wakes
/// the consumer. The cutting rules (``append(_:now:)``, ``next(now:)``) take the time as a
/// parameter.
final class BatchBuffer<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        /// When the pending batch's wait is over; nil while nothing is pending.
        var deadline: ContinuousClock.Instant?
        var closed = false
    }

    /// What the consumer does next.
    enum Step {
        /// Hand this batch to the handler.
        case batch([Element])
        /// Nothing is full or due: wait to be woken.
        case wait
        /// Closed and empty.
        case finished
    }

    let options: BatchOptions
    private let state = Mutex(State())
    /// "Look again" for the consumer: when a batch fills up, falls due, or the buffer closes.
    private let wakeups = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    /// Deadlines of pending batches, for the timer. Each is later than the one before, so only
    /// the newest is kept.
    private let deadlines = AsyncStream<ContinuousClock.Instant>.makeStream(bufferingPolicy: .bufferingNewest(1))

    init(options: BatchOptions) {
        self.options = options
    }

    /// Adds deliveries that arrived at `now`; returns false if the buffer is closed (the caller
    /// hands them back).
    func append(_ deliveries: [Element], now: ContinuousClock.Instant) -> Bool {
        let outcome: (accepted: Bool, deadline: ContinuousClock.Instant?, full: Bool) = state.withLock { state in
            guard !state.closed else { return (false, nil, false) }
            var armed: ContinuousClock.Instant?
            if state.deadline == nil {
                state.deadline = now + options.maxWait
                armed = state.deadline
            }
            state.items.append(contentsOf: deliveries)
            return (true, armed, state.items.count >= options.maxSize)
        }
        if let deadline = outcome.deadline { deadlines.continuation.yield(deadline) }
        if outcome.full { wakeups.continuation.yield() }
        return outcome.accepted
    }

    /// The next step at `now`: a batch that is full, as old as `maxWait`, or (once closed) what
    /// is left; else wait, or finished once closed and empty. Events left after a cut start a new
    /// batch whose wait begins `now`.
    func next(now: ContinuousClock.Instant) -> Step {
        let (step, armed): (Step, ContinuousClock.Instant?) = state.withLock { state in
            let due = state.deadline.map { $0 <= now } ?? false
            guard !state.items.isEmpty, state.items.count >= options.maxSize || state.closed || due else {
                return (state.closed ? .finished : .wait, nil)
            }
            let count = min(options.maxSize, state.items.count)
            let batch = Array(state.items.prefix(count))
            state.items.removeFirst(count)
            state.deadline = state.items.isEmpty ? nil : now + options.maxWait
            return (.batch(batch), state.deadline)
        }
        if let armed { deadlines.continuation.yield(armed) }
        return step
    }

    /// Stops accepting; the consumer gets what is left, then finishes. The timer ends.
    func close() {
        state.withLock { $0.closed = true }
        deadlines.continuation.finish()
        wakeups.continuation.yield()
        wakeups.continuation.finish()
    }

    /// The consumer loop: hands every batch to `handle`, one at a time, until the buffer is closed
    /// and empty or the task is cancelled.
    func consume(_ handle: ([Element]) async -> Void) async {
        for await _ in wakeups.stream {
            cutting: while !Task.isCancelled {
                switch next(now: .now) {
                case .batch(let batch): await handle(batch)
                case .wait: break cutting
                case .finished: return
                }
            }
        }
    }

    /// The timer loop: sleeps until each pending batch's deadline, then wakes the consumer. Ends
    /// when the buffer closes or the task is cancelled.
    func runTimer() async {
        for await deadline in deadlines.stream {
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
            } catch {
                return
            }
            wakeups.continuation.yield()
        }
    }
}
