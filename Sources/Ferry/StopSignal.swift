import Synchronization

/// A one-shot signal that any number of tasks can await.
final class StopSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>], actions: [@Sendable () -> Void])>(
        (false, [], []))

    var isFired: Bool { state.withLock { $0.fired } }

    func fire() {
        let (waiters, actions) = state.withLock { state in
            guard !state.fired else { return ([CheckedContinuation<Void, Never>](), [@Sendable () -> Void]()) }
            state.fired = true
            defer {
                state.waiters.removeAll()
                state.actions.removeAll()
            }
            return (state.waiters, state.actions)
        }
        for waiter in waiters { waiter.resume() }
        for action in actions { action() }
    }

    /// Runs `action` when the signal fires (at once if it has).
    func whenFired(_ action: @escaping @Sendable () -> Void) {
        let fired = state.withLock { state in
            if !state.fired { state.actions.append(action) }
            return state.fired
        }
        if fired { action() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let fired = state.withLock { state in
                if !state.fired { state.waiters.append(continuation) }
                return state.fired
            }
            if fired { continuation.resume() }
        }
    }

    /// Waits for the signal, or until `deadline`; returns whether the signal fired.
    func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.wait()
                return true
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            let first = await group.next() ?? false
            if !first { self.fire() }
            group.cancelAll()
            return first
        }
    }
}
