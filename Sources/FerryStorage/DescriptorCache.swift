import Synchronization

/// Bounds the file descriptors that segment files keep open.
///
/// Every segment of every topic is a file; kept open forever, a few hundred topics (or one
/// topic with many rolled segments) would spend the process's descriptor limit, and then new
/// connections, new topics and even a restart would fail. So a segment file opens its
/// descriptor on demand, and once more are open than ``capacity``, the least recently used
/// ones that are idle are closed: no thread is using them, no zero runway is being kept ahead of
/// them, and everything written to them is synced (a file with a write-back error or appends
/// still waiting for an fdatasync keeps its descriptor, which is the one that must see the
/// error). A rolled segment is closed that way; an active one of a topic that fsyncs keeps its
/// two (data and runway) while it is active.
final class DescriptorCache: Sendable {
    /// Most descriptors segment files keep open when some are idle.
    let capacity: Int

    private final class WeakFile: Sendable {
        nonisolated(unsafe) weak var file: SegmentFile?
        init(_ file: SegmentFile) { self.file = file }
    }

    private struct State {
        var open: [ObjectIdentifier: WeakFile] = [:]
        /// Runways (a descriptor each, the preallocator's), counted from their start to their end:
        /// they end when their segment rolls or their topic is parked.
        var runways = 0
    }

    private let state = Mutex(State())
    private static let clock = Atomic<UInt64>(0)

    init(capacity: Int) {
        self.capacity = max(8, capacity)
    }

    /// A counter that orders uses of files (least recently used first).
    static func tick() -> UInt64 { clock.add(1, ordering: .relaxed).newValue }

    /// Descriptors segment files hold open now.
    var openCount: Int { state.withLock { $0.open.count + $0.runways } }

    /// A runway started: counts its descriptor, and closes idle data descriptors past the capacity.
    func runwayStarted() {
        state.withLock { $0.runways += 1 }
        trim()
    }

    /// A runway ended (its descriptor closed, or never opened).
    func runwayEnded() { state.withLock { $0.runways -= 1 } }

    /// `file` opened its data descriptor (called under the file's descriptor lock; follow it
    /// with ``trim(sparing:toAtMost:)`` once that lock is let go).
    func register(_ file: SegmentFile) {
        state.withLock { state in state.open[ObjectIdentifier(file)] = WeakFile(file) }
    }

    /// Whether more descriptors are open than the capacity (idle topics should be parked).
    var isOverCapacity: Bool { state.withLock { $0.open.count + $0.runways > capacity } }

    /// Closes the least recently used idle descriptors while more than `limit` (by default the
    /// capacity) are open.
    func trim(sparing spared: SegmentFile? = nil, toAtMost limit: Int? = nil) {
        let limit = limit ?? capacity
        let candidates: [SegmentFile] = state.withLock { state in
            guard state.open.count + state.runways > limit else { return [] }
            return state.open.values.compactMap(\.file).filter { $0 !== spared }
        }
        guard !candidates.isEmpty else { return }
        var excess = openCount - limit
        for candidate in candidates.sorted(by: { $0.lastUse < $1.lastUse }) where excess > 0 {
            if candidate.closeIfIdle() { excess -= 1 }
        }
    }

    /// `file` closed its data descriptor (idle, or deinitialized), under its descriptor lock.
    func unregister(_ file: SegmentFile) {
        state.withLock { state in _ = state.open.removeValue(forKey: ObjectIdentifier(file)) }
    }
}
