import FerryStorage
import Testing

@Suite("InMemoryEventLog: release and compaction")
struct EventStoreReleaseTests {
    static func store(events count: Int, bytes: Int = 10, maxBytes: Int = 1 << 30) throws -> InMemoryEventLog {
        let store = InMemoryEventLog(maxBytes: maxBytes)
        _ = try store.append(topic: "t", events: (0..<count).map { newEvent(UInt8($0), size: bytes) })
        return store
    }

    @Test("release frees bytes and moves the lower bound; reads below it start at the first retained")
    func release() throws {
        let store = try Self.store(events: 5)
        _ = try store.append(topic: "other", events: [newEvent(size: 7)])
        #expect(store.storedBytes == 57)

        store.release(topic: "t", below: 2)
        #expect(store.storedBytes == 37)
        #expect(store.bounds(topic: "t") == 2..<5)
        #expect(try store.read(topic: "t", from: 0, limit: 10).map(\.offset) == [2, 3, 4])
        #expect(try store.read(topic: "t", from: 0, limit: 1).map(\.offset) == [2])
        #expect(try store.read(topic: "t", from: 1, limit: 10).first?.body == [UInt8](repeating: 2, count: 10))
        #expect(try store.read(topic: "t", from: 3, limit: 10).map(\.offset) == [3, 4])
        #expect(store.bounds(topic: "other") == 0..<1, "other topics are untouched")

        store.release(topic: "t", below: 1)
        store.release(topic: "t", below: 2)
        #expect(store.bounds(topic: "t") == 2..<5, "releasing below the lower bound is a no-op")
        #expect(store.storedBytes == 37)
        store.release(topic: "missing", below: 10)
        #expect(store.storedBytes == 37)
    }

    @Test("releasing past the end releases everything and offsets continue")
    func releaseAll() throws {
        let store = try Self.store(events: 3)
        store.release(topic: "t", below: 100)
        #expect(store.storedBytes == 0)
        #expect(store.bounds(topic: "t") == 3..<3)
        #expect(try store.read(topic: "t", from: 0, limit: 10).isEmpty)
        #expect(try store.append(topic: "t", events: [newEvent(), newEvent()]) == [3, 4])
        #expect(store.bounds(topic: "t") == 3..<5)
        #expect(try store.read(topic: "t", from: 0, limit: 10).map(\.offset) == [3, 4])
    }

    @Test("released bytes return to the budget")
    func releaseFreesBudget() throws {
        let store = try Self.store(events: 3, bytes: 10, maxBytes: 30)
        #expect(storageErrorCode { _ = try store.append(topic: "t", events: [newEvent(size: 10)]) } == .full)
        store.release(topic: "t", below: 1)
        #expect(try store.append(topic: "t", events: [newEvent(9, size: 10)]) == [3])
        #expect(store.storedBytes == 30)
        #expect(try store.read(topic: "t", from: 3, limit: 1).first?.body == [UInt8](repeating: 9, count: 10))
    }

    @Test("appending and releasing one event at a time over 12 000 events keeps offsets and bodies right")
    func interleaved() throws {
        let store = InMemoryEventLog()
        var released: UInt64 = 0
        for index in 0..<12_000 {
            let offsets = try store.append(topic: "t", events: [NewEvent(key: "", timestampMicros: 0, body: body(UInt64(index)))])
            #expect(offsets == [UInt64(index)])
            // Keep a small, varying window of unreleased events.
            if index % 7 == 6 {
                released = UInt64(index) - UInt64(index % 5)
                store.release(topic: "t", below: released)
            }
            if index % 997 == 0 || index == 11_999 {
                let bounds = store.bounds(topic: "t")
                #expect(bounds == released..<UInt64(index + 1))
                let events = try store.read(topic: "t", from: 0, limit: 3)
                #expect(events.first?.offset == released)
                #expect(events.allSatisfy { value($0.body) == $0.offset })
                #expect(store.storedBytes == 8 * Int(bounds.count))
            }
        }
        let tail = try store.read(topic: "t", from: 11_995, limit: 100)
        #expect(tail.map(\.offset) == Array(max(11_995, released)..<12_000))
        #expect(tail.allSatisfy { value($0.body) == $0.offset })
    }

    @Test("a large release compacts the topic without shifting offsets")
    func compaction() throws {
        let store = InMemoryEventLog()
        _ = try store.append(topic: "t", events: (0..<20_000).map { NewEvent(key: "k\($0)", timestampMicros: Int64($0), body: body($0)) })
        store.release(topic: "t", below: 15_000)
        #expect(store.bounds(topic: "t") == 15_000..<20_000)
        #expect(store.storedBytes == 5_000 * 8)
        let first = try store.read(topic: "t", from: 14_999, limit: 2)
        #expect(first.map(\.offset) == [15_000, 15_001])
        #expect(first.map(\.key) == ["k15000", "k15001"])
        #expect(first.map { value($0.body) } == [15_000, 15_001])
        #expect(try store.read(topic: "t", from: 19_999, limit: 5).map(\.timestampMicros) == [19_999])

        #expect(try store.append(topic: "t", events: [NewEvent(key: "", timestampMicros: 0, body: body(20_000))]) == [20_000])
        store.release(topic: "t", below: 19_990)
        #expect(store.bounds(topic: "t") == 19_990..<20_001)
        let rest = try store.read(topic: "t", from: 0, limit: 100)
        #expect(rest.map(\.offset) == Array(19_990...20_000))
        #expect(rest.allSatisfy { value($0.body) == $0.offset })

        store.release(topic: "t", below: 20_001)
        #expect(store.bounds(topic: "t") == 20_001..<20_001)
        #expect(store.storedBytes == 0)
        #expect(try store.append(topic: "t", events: [newEvent()]) == [20_001])
    }
}
