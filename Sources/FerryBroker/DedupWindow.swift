import FerryRuntime

/// Remembers recently stored event ids so that a republished event is confirmed, not stored twice.
///
/// One lookup is one probe sequence in an open-addressing ``DedupTable``. The table doubles when
/// half full, up to twice `maxEntries`, so its memory follows the ids held; the ids then move
/// across a few slots per insert, since a table that rehashed all at once would stall the broker
/// loop for tens of milliseconds at 100k ids. Until the move is done, a lookup also checks the
/// old table. The bigger table is made ahead of time off the broker thread, and the emptied one
/// unmapped there (``DedupTableNursery``). Expiry follows storage order, kept in fixed-size chunks.
final class DedupWindow {
    private struct Entry {
        let key: DedupKey
        let storedAt: MonotonicInstant
    }

    static let smallestTable = 1 << 12
    static let chunkSize = 4096
    /// Slots of the old table moved per insert: with `c` old slots holding `c/2` ids, the move
    /// ends after `c/8` inserts, when the new table of `2c` slots is at most `(c/2 + c/8) / 2c`
    /// full.
    static let slotsMovedPerInsert = 8

    let window: Nanoseconds
    let maxEntries: Int
    private var table = DedupTable(capacity: DedupWindow.smallestTable)
    private var moving: DedupTable?
    private var movePosition = 0
    /// Makes the next table ahead of time and unmaps emptied ones.
    let nursery = DedupTableNursery()
    /// Ids in storage order; `order[0][..<head]` are forgotten.
    private var order: [[Entry]] = []
    private var head = 0

    init(window: Nanoseconds, maxEntries: Int) {
        self.window = window
        self.maxEntries = max(maxEntries, 0)
    }

    /// Ids remembered.
    var count: Int { table.count + (moving?.count ?? 0) }

    /// The offset the event with this key was stored at, if it is still in the window.
    func offset(for key: DedupKey) -> UInt64? {
        if let offset = table.value(for: key) { return offset }
        return moving?.value(for: key)
    }

    func remember(_ key: DedupKey, offset: UInt64, now: MonotonicInstant) {
        guard window > .zero, maxEntries > 0 else { return }
        while count >= maxEntries && !order.isEmpty { forgetOldest() }
        if moving != nil {
            moveSome()
        } else if table.capacity < 2 * maxEntries {
            if (table.count + 1) * 2 > table.capacity {
                moving = table
                movePosition = 0
                table = nursery.take(capacity: table.capacity * 2) ?? DedupTable(capacity: table.capacity * 2)
            } else if (table.count + 1) * 8 > table.capacity * 3 {
                nursery.prepare(capacity: table.capacity * 2)
            }
        }
        table.insert(key, value: offset)
        if order.isEmpty || order[order.count - 1].count == Self.chunkSize {
            order.append([])
            order[order.count - 1].reserveCapacity(Self.chunkSize)
        }
        order[order.count - 1].append(Entry(key: key, storedAt: now))
    }

    /// Forgets ids older than the window.
    func expire(now: MonotonicInstant) {
        while !order.isEmpty, head < order[0].count, now - order[0][head].storedAt > window {
            forgetOldest()
        }
    }

    private func forgetOldest() {
        let key = order[0][head].key
        if !table.remove(key) { moving?.markRemoved(key) }
        head += 1
        if head == order[0].count {
            order.removeFirst()
            head = 0
        }
    }

    private func moveSome() {
        guard let old = moving else { return }
        let end = min(movePosition + Self.slotsMovedPerInsert, old.capacity)
        for index in movePosition..<end {
            // A newer offset for the same id may already be in the new table: keep it.
            if let (key, offset) = old.take(slot: index) { table.insert(key, value: offset, replacing: false) }
        }
        movePosition = end
        if end == old.capacity {
            moving = nil
            nursery.release(old)
        }
    }
}
