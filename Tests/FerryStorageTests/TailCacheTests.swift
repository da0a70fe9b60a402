import Testing

@testable import FerryStorage

@Suite("TailCache: recent events in chunks, within a byte budget")
struct TailCacheTests {
    private static func event(_ offset: UInt64, bytes: Int = 10) -> StoredEvent {
        StoredEvent(offset: offset, key: "k", timestampMicros: Int64(offset), body: [UInt8](repeating: UInt8(offset % 251), count: bytes))
    }

    @Test("reads across chunk boundaries return the events in offset order, up to the limit and the end")
    func readsAcrossChunks() {
        let total = UInt64(TailCache.chunkCapacity * 2 + 100)
        var cache = TailCache(budgetBytes: 1 << 30)
        for offset in 0..<total { cache.append(Self.event(offset)) }
        #expect(cache.count == Int(total))
        #expect(cache.firstOffset == 0)
        let start = UInt64(TailCache.chunkCapacity - 3)
        let read = cache.events(from: start, limit: TailCache.chunkCapacity + 10)
        #expect(read?.map(\.offset) == Array(start..<(start + UInt64(TailCache.chunkCapacity + 10))))
        #expect(read?.first?.body == Self.event(start).body)
        #expect(cache.events(from: total - 2, limit: 10)?.map(\.offset) == [total - 2, total - 1])
        #expect(cache.events(from: total, limit: 10)?.isEmpty == true, "past the end: nothing yet")
    }

    @Test("the budget evicts the oldest events, freeing whole chunks; reads below the first held say so")
    func evictsOldest() {
        // Room for 1000 events of 10 bytes; 3 chunks' worth appended.
        var cache = TailCache(budgetBytes: 10_000)
        let total = UInt64(TailCache.chunkCapacity * 3)
        for offset in 0..<total { cache.append(Self.event(offset)) }
        #expect(cache.count == 1000)
        #expect(cache.bytes == 10_000)
        #expect(cache.firstOffset == total - 1000)
        #expect(cache.events(from: total - 1001, limit: 5) == nil, "evicted: read it from the log")
        #expect(cache.events(from: total - 1000, limit: 3)?.map(\.offset) == [total - 1000, total - 999, total - 998])

        // Held events that start part-way into one chunk and run into the next.
        var spanning = TailCache(budgetBytes: 50_000)
        for offset in 0..<total { spanning.append(Self.event(offset)) }
        #expect(spanning.firstOffset == total - 5000)
        #expect(spanning.events(from: total - 5000, limit: 5000)?.map(\.offset) == Array((total - 5000)..<total))
        #expect(spanning.events(from: total - 4097, limit: 2)?.map(\.offset) == [total - 4097, total - 4096])

        // An event larger than the whole budget evicts everything, itself included.
        cache.append(Self.event(total, bytes: 20_000))
        #expect(cache.count == 0)
        #expect(cache.bytes == 0)
        #expect(cache.firstOffset == nil)
        #expect(cache.events(from: total, limit: 1) == nil)
        cache.append(Self.event(total + 1))
        #expect(cache.events(from: total + 1, limit: 5)?.map(\.offset) == [total + 1])
    }
}
