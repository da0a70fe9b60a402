import FerryRuntime
import FerryTestSupport
import Testing

@testable import FerryBroker

/// The dedup window and its table: lookups find every id, also while ids move to a bigger
/// table; removals keep the others findable; expiry and the entry limit forget the oldest first.
@Suite("Dedup window")
struct DedupWindowTests {
    /// The instant `nanoseconds` after the monotonic clock's zero.
    static func at(_ nanoseconds: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: nanoseconds) }

    private static func key(_ number: Int) -> DedupKey { DedupKey(topic: "t", id: "id-\(number)") }

    @Test("ids stay findable while the table grows and expire oldest first")
    func growing() {
        let window = DedupWindow(window: .nanoseconds(1_000), maxEntries: 1_000_000)
        let ids = DedupWindow.smallestTable * 5
        for number in 0..<ids { window.remember(Self.key(number), offset: UInt64(number), now: Self.at(UInt64(number / 1_000 * 1_000))) }
        #expect(window.count == ids)
        for number in stride(from: 0, to: ids, by: 97) { #expect(window.offset(for: Self.key(number)) == UInt64(number)) }
        #expect(window.offset(for: Self.key(ids)) == nil)

        // Every 1 000 ids are stored 1 µs later than the previous 1 000; the window is 1 µs.
        window.expire(now: Self.at(1_001))
        #expect(window.offset(for: Self.key(999)) == nil)
        #expect(window.offset(for: Self.key(1_000)) == 1_000)
        window.expire(now: Self.at(3_001))
        #expect(window.count == ids - 3_000)
        #expect(window.offset(for: Self.key(2_999)) == nil)
        #expect(window.offset(for: Self.key(3_000)) == 3_000)
        #expect(window.offset(for: Self.key(ids - 1)) == UInt64(ids - 1))

        window.expire(now: Self.at(1_000_000))
        #expect(window.count == 0)
        window.remember(Self.key(1), offset: 7, now: Self.at(1_000_000))
        #expect(window.offset(for: Self.key(1)) == 7)
    }

    @Test("the bigger table is made ahead of time, taken when the table doubles, and the emptied one released")
    func tablesMadeAhead() async {
        let window = DedupWindow(window: .nanoseconds(1_000_000_000), maxEntries: 1_000_000)
        let nursery = window.nursery
        let smallest = DedupWindow.smallestTable
        // Three-eighths full: the next table is asked for.
        var number = 0
        while number * 8 <= smallest * 3 {
            window.remember(Self.key(number), offset: UInt64(number), now: Self.at(0))
            number += 1
        }
        #expect(nursery.statistics.prepared == 1)
        #expect(await Wait.until(timeout: .seconds(10)) { nursery.statistics.readied == 1 })
        // Half full: the table doubles into the prepared one; the old one empties within an
        // eighth of its slots' inserts and is released.
        while number < smallest / 2 + smallest / 8 + 1 {
            window.remember(Self.key(number), offset: UInt64(number), now: Self.at(0))
            number += 1
        }
        #expect(nursery.statistics.taken == 1)
        #expect(await Wait.until(timeout: .seconds(10)) { nursery.statistics.released == 1 })
        for earlier in 0..<number { #expect(window.offset(for: Self.key(earlier)) == UInt64(earlier)) }
        #expect(window.count == number)
    }

    @Test("a table asked for but not ready when wanted is dropped, and can be asked for again")
    func tableNotReadyInTime() async {
        let nursery = DedupTableNursery()
        let capacity = 1 << 22  // 96 MiB to fault in: not ready within the next statement, as a rule
        nursery.prepare(capacity: capacity)
        let taken = nursery.take(capacity: capacity)
        #expect(await Wait.until(timeout: .seconds(30)) { nursery.statistics.made == 1 })
        if taken == nil {
            // Too late for the caller: the finished table is not kept for anyone.
            #expect(nursery.statistics.readied == 0)
            #expect(nursery.take(capacity: capacity) == nil)
        } else {
            #expect(nursery.statistics.taken == 1)
        }
        let readiedBefore = nursery.statistics.readied
        nursery.prepare(capacity: capacity)
        #expect(nursery.statistics.prepared == 2)
        #expect(await Wait.until(timeout: .seconds(30)) { nursery.statistics.readied == readiedBefore + 1 })
        #expect(nursery.take(capacity: capacity)?.capacity == capacity)
    }

    @Test("past the entry limit the oldest ids are forgotten")
    func entryLimit() {
        let window = DedupWindow(window: .nanoseconds(1_000_000_000), maxEntries: 3_000)
        for number in 0..<10_000 { window.remember(Self.key(number), offset: UInt64(number), now: Self.at(0)) }
        #expect(window.count == 3_000)
        #expect(window.offset(for: Self.key(6_999)) == nil)
        #expect(window.offset(for: Self.key(7_000)) == 7_000)
        #expect(window.offset(for: Self.key(9_999)) == 9_999)
    }

    @Test("ids that come and go leave no trace, and a republished id keeps its newest offset")
    func churn() {
        let window = DedupWindow(window: .nanoseconds(10), maxEntries: 1_000_000)
        // Many rounds of ids that expire: every removal shifts others back into place.
        for round in 0..<50 {
            let now = UInt64(round * 100)
            for number in 0..<3_000 { window.remember(Self.key(round * 3_000 + number), offset: UInt64(number), now: Self.at(now)) }
            #expect(window.offset(for: Self.key(round * 3_000 + 2_999)) == 2_999)
            window.expire(now: Self.at(now + 50))
            #expect(window.count == 0)
            #expect(window.offset(for: Self.key(round * 3_000)) == nil)
        }
        window.remember(Self.key(1), offset: 1, now: Self.at(10_000))
        window.remember(Self.key(1), offset: 2, now: Self.at(10_000))
        #expect(window.offset(for: Self.key(1)) == 2)
    }

    @Test("a scratch table empties in order and is reusable")
    func scratchTable() {
        let table = DedupTable(capacity: 64)
        let keys = (0..<30).map(Self.key)
        for (index, key) in keys.enumerated() { table.insert(key, value: UInt64(index), replacing: false) }
        table.insert(keys[3], value: 99, replacing: false)
        #expect(table.value(for: keys[3]) == 3)
        #expect(table.count == 30)
        table.removeAll(insertedInOrder: keys)
        #expect(table.count == 0)
        for key in keys { #expect(table.value(for: key) == nil) }
        table.insert(keys[7], value: 7)
        #expect(table.value(for: keys[7]) == 7)
    }

    @Test("removing keys from crowded probe runs keeps every other key findable")
    func backwardShift() {
        let table = DedupTable(capacity: 1_024)
        var keys = (0..<500).map(Self.key)
        for (index, key) in keys.enumerated() { table.insert(key, value: UInt64(index)) }
        var generator = SystemRandomNumberGenerator()
        keys.shuffle(using: &generator)
        for (removed, key) in keys.enumerated() {
            #expect(table.remove(key))
            #expect(!table.remove(key))
            if removed % 50 == 0 {
                for other in keys[(removed + 1)...] { #expect(table.value(for: other) != nil) }
            }
        }
        #expect(table.count == 0)
    }
}
