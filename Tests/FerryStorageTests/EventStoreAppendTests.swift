import FerryStorage
import Testing

@Suite("InMemoryEventStore: append, read, bounds, budget")
struct EventStoreAppendTests {
    @Test("a new store is empty")
    func empty() throws {
        let store = InMemoryEventStore(maxBytes: 100)
        #expect(store.maxBytes == 100)
        #expect(store.storedBytes == 0)
        #expect(store.topics.isEmpty)
        #expect(store.bounds(topic: "nope") == 0..<0)
        #expect(try store.read(topic: "nope", from: 0, limit: 10).isEmpty)
    }

    @Test("offsets start at 0 and increase per topic independently")
    func offsets() throws {
        let store = InMemoryEventStore()
        #expect(try store.append(topic: "a", events: [newEvent(), newEvent()]) == [0, 1])
        #expect(try store.append(topic: "b", events: [newEvent()]) == [0])
        #expect(try store.append(topic: "a", events: [newEvent(), newEvent(), newEvent()]) == [2, 3, 4])
        #expect(try store.append(topic: "b", events: [newEvent()]) == [1])
        #expect(try store.append(topic: "c", events: []) == [])
        #expect(store.bounds(topic: "a") == 0..<5)
        #expect(store.bounds(topic: "b") == 0..<2)
        #expect(store.bounds(topic: "c") == 0..<0)
        #expect(Set(store.topics).isSuperset(of: ["a", "b"]))
        #expect(store.storedBytes == 7)
    }

    @Test("reads return the stored events from an offset, up to a limit")
    func read() throws {
        let store = InMemoryEventStore()
        let events = (0..<6).map { NewEvent(key: "k\($0)", timestampMicros: 1_000 + Int64($0), body: body(UInt64($0) * 11)) }
        _ = try store.append(topic: "t", events: events)
        _ = try store.append(topic: "other", events: [newEvent(9, size: 3)])

        let all = try store.read(topic: "t", from: 0, limit: 100)
        #expect(all.map(\.offset) == [0, 1, 2, 3, 4, 5])
        #expect(all.map(\.key) == ["k0", "k1", "k2", "k3", "k4", "k5"])
        #expect(all.map(\.timestampMicros) == [1_000, 1_001, 1_002, 1_003, 1_004, 1_005])
        #expect(all.map { value($0.body) } == [0, 11, 22, 33, 44, 55])

        #expect(try store.read(topic: "t", from: 2, limit: 2).map(\.offset) == [2, 3])
        #expect(try store.read(topic: "t", from: 4, limit: 10).map(\.offset) == [4, 5])
        #expect(try store.read(topic: "t", from: 5, limit: 1).map { value($0.body) } == [55])
        #expect(try store.read(topic: "t", from: 6, limit: 10).isEmpty, "the next offset is not readable yet")
        #expect(try store.read(topic: "t", from: 1_000, limit: 10).isEmpty)
        #expect(try store.read(topic: "t", from: 0, limit: 0).isEmpty)
        #expect(try store.read(topic: "t", from: 0, limit: -1).isEmpty)
        #expect(try store.read(topic: "other", from: 0, limit: 10).map(\.body) == [[9, 9, 9]])
    }

    @Test("a limit larger than the topic returns the rest, even Int.max from a later offset")
    func hugeLimit() throws {
        let store = InMemoryEventStore()
        _ = try store.append(topic: "t", events: (0..<5).map { NewEvent(key: "", timestampMicros: 0, body: body($0)) })
        #expect(try store.read(topic: "t", from: 0, limit: .max).map(\.offset) == [0, 1, 2, 3, 4])
        #expect(try store.read(topic: "t", from: 3, limit: .max).map(\.offset) == [3, 4])
    }

    @Test("the byte budget: an append that does not fit fails with .full and stores nothing")
    func budget() throws {
        let store = InMemoryEventStore(maxBytes: 10)
        #expect(try store.append(topic: "a", events: [newEvent(1, size: 6)]) == [0])
        #expect(storageErrorCode { _ = try store.append(topic: "a", events: [newEvent(2, size: 3), newEvent(3, size: 3)]) } == .full)
        #expect(store.storedBytes == 6)
        #expect(store.bounds(topic: "a") == 0..<1, "a failed batch must not be partially appended")
        #expect(try store.read(topic: "a", from: 0, limit: 10).map(\.body) == [[1, 1, 1, 1, 1, 1]])

        // The budget is shared across topics, and a topic that failed its first append has no events.
        #expect(storageErrorCode { _ = try store.append(topic: "b", events: [newEvent(size: 5)]) } == .full)
        #expect(store.bounds(topic: "b") == 0..<0)
        #expect(try store.read(topic: "b", from: 0, limit: 10).isEmpty)

        // Exactly filling the budget is allowed; one more byte is not.
        #expect(try store.append(topic: "b", events: [newEvent(4, size: 4)]) == [0])
        #expect(store.storedBytes == 10)
        #expect(storageErrorCode { _ = try store.append(topic: "a", events: [newEvent(size: 1)]) } == .full)
        #expect(try store.append(topic: "a", events: [newEvent(size: 0)]) == [1], "an empty body costs nothing")
        #expect(store.bounds(topic: "a") == 0..<2)
    }

    @Test("the .full error says what was spent")
    func fullError() {
        let store = InMemoryEventStore(maxBytes: 3)
        let error = #expect(throws: StorageError.self) { _ = try store.append(topic: "a", events: [newEvent(size: 4)]) }
        #expect(error?.code == .full)
        #expect(error?.message.contains("3 bytes") == true)
        #expect(error?.description.hasPrefix("full: ") == true)
    }
}
