/// Remembers recently stored event ids so that a republished event is confirmed, not stored twice.
///
/// One lookup is one probe sequence in a ``DedupTable`` sized once for `maxEntries` (at most half
/// full, so it never rehashes on the broker loop; its memory becomes resident as it fills).
/// Expiry follows storage order, kept in fixed-size chunks.
final class DedupWindow {
    private struct Entry {
        let key: DedupKey
        let storedAt: UInt64
    }

    static let chunkSize = 4096
    /// The most ids a window may be configured to hold (a 768 MiB table).
    static let largestWindow = 16 << 20

    let windowNanoseconds: UInt64
    let maxEntries: Int
    private let table: DedupTable
    /// Ids in storage order; `order[0][..<head]` are forgotten.
    private var order: [[Entry]] = []
    private var head = 0

    init(windowNanoseconds: UInt64, maxEntries: Int) {
        self.windowNanoseconds = windowNanoseconds
        self.maxEntries = min(max(maxEntries, 0), Self.largestWindow)
        let enabled = windowNanoseconds > 0 && self.maxEntries > 0
        table = DedupTable(capacity: enabled ? 2 * self.maxEntries : 16)
    }

    /// Ids remembered.
    var count: Int { table.count }

    /// The offset the event with this key was stored at, if it is still in the window.
    func offset(for key: DedupKey) -> UInt64? { table.value(for: key) }

    func remember(_ key: DedupKey, offset: UInt64, now: UInt64) {
        guard windowNanoseconds > 0, maxEntries > 0 else { return }
        while table.count >= maxEntries && !order.isEmpty { forgetOldest() }
        table.insert(key, value: offset)
        if order.isEmpty || order[order.count - 1].count == Self.chunkSize {
            order.append([])
            order[order.count - 1].reserveCapacity(Self.chunkSize)
        }
        order[order.count - 1].append(Entry(key: key, storedAt: now))
    }

    /// Forgets ids older than the window.
    func expire(now: UInt64) {
        while !order.isEmpty, head < order[0].count, now &- order[0][head].storedAt > windowNanoseconds {
            forgetOldest()
        }
    }

    private func forgetOldest() {
        guard !order.isEmpty else { return }
        table.remove(order[0][head].key)
        head += 1
        if head == order[0].count {
            order.removeFirst()
            head = 0
        }
    }
}
