import FerryStorage
import Testing

@Suite("InMemoryEventStore: group state and dead letters")
struct CursorAndDeadLetterTests {
    static func record(_ group: String, offset: UInt64, id: UInt64 = 999) -> DeadLetterRecord { deadLetter(group, offset: offset, id: id) }

    @Test("a new store has no group state; saving nothing changes nothing")
    func emptyState() throws {
        let store = InMemoryEventStore()
        let empty = try store.loadGroupState()
        #expect(empty.groups.isEmpty && empty.cursors.isEmpty && empty.retries.isEmpty)
        #expect(GroupStateChanges().isEmpty)
        try store.saveGroupState(GroupStateChanges())
        expectSameState(try store.loadGroupState(), GroupStateSnapshot())
        try store.saveGroupState(GroupStateFixture.first)
        try store.saveGroupState(GroupStateChanges())
        expectSameState(try store.loadGroupState(), GroupStateFixture.afterFirst)
    }

    @Test("groups, cursors (with in-flight offsets) and retries are added, replaced and removed")
    func groupState() throws {
        let store = InMemoryEventStore()
        try store.saveGroupState(GroupStateFixture.first)
        expectSameState(try store.loadGroupState(), GroupStateFixture.afterFirst)
        try store.saveGroupState(GroupStateFixture.second)
        let state = try store.loadGroupState()
        expectSameState(state, GroupStateFixture.afterSecond)
        #expect(state.groups.count == 2, "a replaced group is not duplicated")
        #expect(state.cursors.count == 3, "a replaced cursor is not duplicated")
        let cursor = try #require(state.cursors.first { $0.group == "billing" && $0.topic == "orders.created" })
        #expect(cursor.next == 12)
        #expect(cursor.settledBelow == 11)
        #expect(
            state.cursors.first { $0.group == "audit" }?.inFlight == [PendingOffset(offset: GroupStateFixture.bigOffset - 1, attempt: .max)]
        )
    }

    @Test("a dead letter added for a requeued retry removes the retry's row in the same step")
    func deadLetterReplacesRetry() throws {
        let store = InMemoryEventStore()
        try GroupStateFixture.checkDeadLetterReplacesRetry(store)
    }

    @Test("retry changes in one save apply in order; removing every retry empties them")
    func retryChangesInOrder() throws {
        let store = InMemoryEventStore()
        try GroupStateFixture.checkRetryChangesInOrder(store)

        try store.saveGroupState(GroupStateFixture.first)
        var removeAll = GroupStateChanges()
        for retry in try store.loadGroupState().retries { removeAll.removeRetry(retry.id) }
        #expect(!removeAll.isEmpty)
        try store.saveGroupState(removeAll)
        let state = try store.loadGroupState()
        #expect(state.retries.isEmpty)
        #expect(state.groups.count == 2 && state.cursors.count == 3, "removing retries leaves groups and cursors alone")
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
