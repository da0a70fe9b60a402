import Synchronization

/// What the broker thread says about its health, for probes on other threads (ferryd's HTTP
/// `/readyz`): written by the loop at start-up and at each housekeeping (every 100 ms), never
/// per message, so reading it costs the hot path nothing.
public final class BrokerHealth: Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// The stores are open and recovered, and the socket is bound.
        public var recovered = false
        /// Why publishes are being refused for the store (a full disk, an I/O error, fsyncs
        /// behind), if one was refused in the last few seconds.
        public var storageProblem: String?
        /// The broker is shutting down and takes no new work.
        public var shuttingDown = false

        /// Ready for traffic: recovered, storing, not stopping.
        public var isReady: Bool { recovered && storageProblem == nil && !shuttingDown }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func update(_ change: (inout Snapshot) -> Void) { state.withLock { change(&$0) } }
}
