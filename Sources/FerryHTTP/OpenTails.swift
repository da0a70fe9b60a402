import Ferry
import Synchronization

/// The live tails the console streams: bounded in number, and all ended when ferryd shuts
/// down (a stream would otherwise hold the HTTP server open until its next event).
final class OpenTails: Sendable {
    private let state = Mutex<(tails: [ObjectIdentifier: EventTail], closed: Bool)>(([:], false))
    /// Most tails at once.
    static let limit = 64

    /// Registers `tail`; false once shutting down or at the limit.
    func add(_ tail: EventTail) -> Bool {
        state.withLock { state in
            guard !state.closed, state.tails.count < Self.limit else { return false }
            state.tails[ObjectIdentifier(tail)] = tail
            return true
        }
    }

    /// Closes `tail` and forgets it.
    func remove(_ tail: EventTail) async {
        _ = state.withLock { $0.tails.removeValue(forKey: ObjectIdentifier(tail)) }
        await tail.close()
    }

    /// Closes every tail and refuses new ones.
    func closeAll() async {
        let all = state.withLock { state -> [EventTail] in
            state.closed = true
            defer { state.tails = [:] }
            return Array(state.tails.values)
        }
        for tail in all { await tail.close() }
    }
}
