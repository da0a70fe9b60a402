import FerryStorage
import Testing

@Suite("InMemoryEventLog: its byte budget (the rest is the contract in Contract/)")
struct InMemoryEventLogTests {
    @Test("a new store is empty")
    func empty() throws {
        let store = InMemoryEventLog(maxBytes: 100)
        #expect(store.maxBytes == 100)
        #expect(store.storedBytes == 0)
        #expect(store.topics.isEmpty)
        #expect(store.bounds(topic: "nope") == 0..<0)
        #expect(try store.read(topic: "nope", from: 0, limit: 10).isEmpty)
    }

    @Test("the byte budget: an append that does not fit fails with .full and stores nothing")
    func budget() throws {
        let store = InMemoryEventLog(maxBytes: 10)
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
        let store = InMemoryEventLog(maxBytes: 3)
        let error = #expect(throws: StorageError.self) { _ = try store.append(topic: "a", events: [newEvent(size: 4)]) }
        #expect(error?.code == .full)
        #expect(error?.message.contains("3 bytes") == true)
        #expect(error?.description.hasPrefix("full: ") == true)
    }
}
