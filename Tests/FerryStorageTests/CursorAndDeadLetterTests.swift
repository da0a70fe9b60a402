import FerryStorage
import Testing

@Suite("InMemoryEventStore: cursors and dead letters")
struct CursorAndDeadLetterTests {
    static func record(_ group: String, offset: UInt64, id: UInt64 = 999) -> DeadLetterRecord {
        DeadLetterRecord(
            id: id, group: group, topic: "orders.created", offset: offset, cause: offset % 2 == 0 ? .maxAttempts : .rejected,
            attempts: UInt32(offset + 1), lastError: "error \(offset)", deadLetteredAtMicros: Int64(offset) * 10,
            body: [UInt8(truncatingIfNeeded: offset), 0xAB])
    }

    @Test("cursors are committed and read back per group and topic")
    func cursors() throws {
        let store = InMemoryEventStore()
        #expect(store.cursors(group: "g").isEmpty)
        #expect(store.groups.isEmpty)
        try store.commitCursor(group: "g", topic: "a", cursor: 5)
        try store.commitCursor(group: "g", topic: "b", cursor: 3)
        try store.commitCursor(group: "h", topic: "a", cursor: 1)
        #expect(store.cursors(group: "g") == ["a": 5, "b": 3])
        #expect(store.cursors(group: "h") == ["a": 1])
        try store.commitCursor(group: "g", topic: "a", cursor: 7)
        #expect(store.cursors(group: "g") == ["a": 7, "b": 3])
        #expect(store.cursors(group: "h") == ["a": 1])
        #expect(Set(store.groups) == ["g", "h"])
        #expect(store.groups.count == 2)
    }

    @Test("dead-letter ids are assigned per group, increasing from 1, and the rest of the record is kept")
    func ids() throws {
        let store = InMemoryEventStore()
        #expect(try store.addDeadLetter(Self.record("g", offset: 10)) == 1)
        #expect(try store.addDeadLetter(Self.record("h", offset: 20)) == 1)
        #expect(try store.addDeadLetter(Self.record("g", offset: 11)) == 2)
        #expect(try store.addDeadLetter(Self.record("g", offset: 12)) == 3)
        #expect(try store.addDeadLetter(Self.record("h", offset: 21)) == 2)

        let entries = store.deadLetters(group: "g", after: 0, limit: 10)
        #expect(entries.map(\.id) == [1, 2, 3])
        #expect(entries.map(\.offset) == [10, 11, 12])
        let second = try #require(entries.dropFirst().first)
        #expect(second.group == "g")
        #expect(second.topic == "orders.created")
        #expect(second.cause == .rejected)
        #expect(second.attempts == 12)
        #expect(second.lastError == "error 11")
        #expect(second.deadLetteredAtMicros == 110)
        #expect(second.body == [11, 0xAB])
        #expect(store.deadLetters(group: "h", after: 0, limit: 10).map(\.offset) == [20, 21])
        #expect(Set(store.groups) == ["g", "h"], "a group with only dead letters is a group")
    }

    @Test("listing pages by id with a limit")
    func list() throws {
        let store = InMemoryEventStore()
        for offset in 0..<5 { try store.addDeadLetter(Self.record("g", offset: UInt64(offset))) }
        #expect(store.deadLetters(group: "g", after: 0, limit: 2).map(\.id) == [1, 2])
        #expect(store.deadLetters(group: "g", after: 2, limit: 2).map(\.id) == [3, 4])
        #expect(store.deadLetters(group: "g", after: 4, limit: 2).map(\.id) == [5])
        #expect(store.deadLetters(group: "g", after: 5, limit: 2).isEmpty)
        #expect(store.deadLetters(group: "g", after: 1, limit: 0).isEmpty)
        #expect(store.deadLetters(group: "g", after: 0, limit: 100).count == 5)
        #expect(store.deadLetters(group: "unknown", after: 0, limit: 10).isEmpty)
    }

    @Test("count, remove by ids, remove all; ids are never reused")
    func remove() throws {
        let store = InMemoryEventStore()
        for offset in 0..<4 { try store.addDeadLetter(Self.record("g", offset: UInt64(offset))) }
        try store.addDeadLetter(Self.record("h", offset: 100))
        #expect(store.deadLetterCount(group: "g") == 4)
        #expect(store.deadLetterCount(group: "h") == 1)
        #expect(store.deadLetterCount(group: "unknown") == 0)

        let removed = try store.removeDeadLetters(group: "g", ids: [3, 1, 42])
        #expect(removed.map(\.id) == [1, 3])
        #expect(removed.map(\.offset) == [0, 2])
        #expect(store.deadLetterCount(group: "g") == 2)
        #expect(store.deadLetters(group: "g", after: 0, limit: 10).map(\.id) == [2, 4])
        #expect(try store.removeDeadLetters(group: "g", ids: [1, 3]).isEmpty, "already removed")
        #expect(try store.removeDeadLetters(group: "g", ids: []).isEmpty)
        #expect(store.deadLetterCount(group: "g") == 2)

        let all = try store.removeDeadLetters(group: "g", ids: nil)
        #expect(all.map(\.id) == [2, 4])
        #expect(store.deadLetterCount(group: "g") == 0)
        #expect(store.deadLetters(group: "g", after: 0, limit: 10).isEmpty)
        #expect(store.deadLetterCount(group: "h") == 1, "other groups are untouched")
        #expect(try store.removeDeadLetters(group: "unknown", ids: nil).isEmpty)

        #expect(try store.addDeadLetter(Self.record("g", offset: 50)) == 5)
        #expect(store.deadLetters(group: "g", after: 0, limit: 10).map(\.id) == [5])
    }
}
