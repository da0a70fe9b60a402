import Synchronization

/// The endpoint ferryd's broker bound, once it has: the HTTP side connects to it. Waiting
/// callers resume when the broker listens.
final class BrokerEndpoint: Sendable {
    private let state = Mutex<(endpoint: String?, waiters: [CheckedContinuation<String, Never>])>((nil, []))

    /// Records the bound endpoint (as ZeroMQ reports it) and wakes the waiters.
    func set(_ bound: String) {
        let endpoint = Self.connectable(bound)
        let waiters = state.withLock { state in
            state.endpoint = endpoint
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: endpoint) }
    }

    /// The endpoint to connect to, once bound.
    func value() async -> String {
        await withCheckedContinuation { continuation in
            let endpoint = state.withLock { state in
                if state.endpoint == nil { state.waiters.append(continuation) }
                return state.endpoint
            }
            if let endpoint { continuation.resume(returning: endpoint) }
        }
    }

    /// A wildcard bind (`tcp://0.0.0.0:7400`, `tcp://[::]:7400`, `tcp://*:7400`) is reached
    /// over loopback.
    static func connectable(_ bound: String) -> String {
        for (wildcard, loopback) in [("tcp://0.0.0.0:", "tcp://127.0.0.1:"), ("tcp://*:", "tcp://127.0.0.1:"), ("tcp://[::]:", "tcp://[::1]:")]
        where bound.hasPrefix(wildcard) {
            return loopback + bound.dropFirst(wildcard.count)
        }
        return bound
    }
}
