import Testing

@testable import FerryBroker

/// The dedup window across its generations: lookups see every generation, expiry and the entry
/// limit forget the oldest ids first.
@Suite("Dedup window")
struct DedupWindowTests {
    private static func key(_ number: Int) -> DedupKey { DedupKey(topic: "t", id: "id-\(number)") }

    @Test("ids stay findable across generations and expire oldest first")
    func generations() {
        var window = DedupWindow(windowNanoseconds: 1_000, maxEntries: 1_000_000)
        let ids = DedupWindow.smallestGeneration * 5
        for number in 0..<ids { window.remember(Self.key(number), offset: UInt64(number), now: UInt64(number / 1_000 * 1_000)) }
        #expect(window.count == ids)
        for number in stride(from: 0, to: ids, by: 97) { #expect(window.offset(for: Self.key(number)) == UInt64(number)) }
        #expect(window.offset(for: Self.key(ids)) == nil)

        // Every 1 000 ids are stored 1 µs later than the previous 1 000; the window is 1 µs.
        window.expire(now: 1_001)
        #expect(window.offset(for: Self.key(999)) == nil)
        #expect(window.offset(for: Self.key(1_000)) == 1_000)
        window.expire(now: 3_001)
        #expect(window.count == ids - 3_000)
        #expect(window.offset(for: Self.key(2_999)) == nil)
        #expect(window.offset(for: Self.key(3_000)) == 3_000)
        #expect(window.offset(for: Self.key(ids - 1)) == UInt64(ids - 1))

        window.expire(now: 1_000_000)
        #expect(window.count == 0)
        window.remember(Self.key(1), offset: 7, now: 1_000_000)
        #expect(window.offset(for: Self.key(1)) == 7)
    }

    @Test("past the entry limit the oldest ids are forgotten")
    func entryLimit() {
        var window = DedupWindow(windowNanoseconds: 1_000_000_000, maxEntries: 3_000)
        for number in 0..<10_000 { window.remember(Self.key(number), offset: UInt64(number), now: 0) }
        #expect(window.count == 3_000)
        #expect(window.offset(for: Self.key(6_999)) == nil)
        #expect(window.offset(for: Self.key(7_000)) == 7_000)
        #expect(window.offset(for: Self.key(9_999)) == 9_999)
    }
}
