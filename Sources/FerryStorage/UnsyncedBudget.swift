import Synchronization

/// Appended bytes that wait in memory for an fdatasync to cover them (see
/// `SegmentFile+Sync.swift`), counted across every log of a store: a disk that is too slow, or
/// keeps failing, makes appends fail with a clear error instead of growing memory without bound.
final class UnsyncedBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes `count` bytes; false (nothing taken) if that would pass the limit while others
    /// wait. An append larger than the whole budget still goes through when nothing waits.
    func take(_ count: Int) -> Bool {
        let after = used.add(count, ordering: .relaxed).newValue
        guard after > limit, after > count else { return true }
        used.subtract(count, ordering: .relaxed)
        return false
    }

    /// Gives back bytes a sync covered (or a cut dropped).
    func give(_ count: Int) {
        guard count > 0 else { return }
        used.subtract(count, ordering: .relaxed)
    }

    /// Bytes waiting now.
    var waiting: Int { used.load(ordering: .relaxed) }
}
