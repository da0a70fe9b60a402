import FerryRuntime
import FerryStorage
import Foundation
import Testing

/// What every ``GroupStateStore`` promises: saves applied in order, retries replaced and
/// removed by id, dead letters numbered per group and never reused. Each case runs on the
/// in-memory and the durable store.
@Suite("GroupStateStore contract: group state and dead letters")
struct GroupStateStoreContractTests {
    static func record(_ group: String, offset: UInt64, id: UInt64 = 999) -> DeadLetterRecord { deadLetter(group, offset: offset, id: id) }

    @Test("a new store has no group state; saving nothing changes nothing", arguments: StoreKind.allCases)
    func emptyState(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
            let empty = try store.load()
            #expect(empty.groups.isEmpty && empty.cursors.isEmpty && empty.retries.isEmpty)
            #expect(GroupStateChanges().isEmpty)
            try store.save(GroupStateChanges())
            expectSameState(try store.load(), GroupStateSnapshot())
            try store.save(GroupStateFixture.first)
            try store.save(GroupStateChanges())
            expectSameState(try store.load(), GroupStateFixture.afterFirst)
        }
    }

    @Test("groups, cursors (with in-flight offsets) and retries are added, replaced and removed", arguments: StoreKind.allCases)
    func groupState(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
            try store.save(GroupStateFixture.first)
            expectSameState(try store.load(), GroupStateFixture.afterFirst)
            try store.save(GroupStateFixture.second)
            let state = try store.load()
            expectSameState(state, GroupStateFixture.afterSecond)
            #expect(state.groups.count == 2, "a replaced group is not duplicated")
            #expect(state.cursors.count == 3, "a replaced cursor is not duplicated")
            let cursor = try #require(state.cursors.first { $0.group == "billing" && $0.topic == "orders.created" })
            #expect(cursor.next == 12)
            #expect(cursor.settledBelow == 11)
            #expect(
                state.cursors.first { $0.group == "audit" }?.inFlight == [
                    PendingOffset(offset: GroupStateFixture.bigOffset - 1, attempt: .max)
                ]
            )
        }
    }

    @Test("a dead letter added for a requeued retry removes the retry's row in the same step", arguments: StoreKind.allCases)
    func deadLetterReplacesRetry(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
            try GroupStateFixture.checkDeadLetterReplacesRetry(store)
        }
    }

    @Test("retry changes in one save apply in order; removing every retry empties them", arguments: StoreKind.allCases)
    func retryChangesInOrder(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
            try GroupStateFixture.checkRetryChangesInOrder(store)

            try store.save(GroupStateFixture.first)
            var removeAll = GroupStateChanges()
            for retry in try store.load().retries { removeAll.removeRetry(retry.id) }
            #expect(!removeAll.isEmpty)
            try store.save(removeAll)
            let state = try store.load()
            #expect(state.retries.isEmpty)
            #expect(state.groups.count == 2 && state.cursors.count == 3, "removing retries leaves groups and cursors alone")
        }
    }

    @Test("dead-letter ids are assigned per group, increasing from 1, and the rest of the record is kept", arguments: StoreKind.allCases)
    func ids(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
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
    }

    @Test("listing pages by id with a limit", arguments: StoreKind.allCases)
    func list(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
            for offset in 0..<5 { try store.addDeadLetter(Self.record("g", offset: UInt64(offset))) }
            #expect(store.deadLetters(group: "g", after: 0, limit: 2).map(\.id) == [1, 2])
            #expect(store.deadLetters(group: "g", after: 2, limit: 2).map(\.id) == [3, 4])
            #expect(store.deadLetters(group: "g", after: 4, limit: 2).map(\.id) == [5])
            #expect(store.deadLetters(group: "g", after: 5, limit: 2).isEmpty)
            #expect(store.deadLetters(group: "g", after: 1, limit: 0).isEmpty)
            #expect(store.deadLetters(group: "g", after: 0, limit: 100).count == 5)
            #expect(store.deadLetters(group: "unknown", after: 0, limit: 10).isEmpty)
        }
    }

    @Test("count, remove by ids, remove all; ids are never reused", arguments: StoreKind.allCases)
    func remove(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
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
            // A count already taken follows later adds.
            try store.addDeadLetters([(Self.record("h", offset: 101), nil), (Self.record("h", offset: 102), nil)])
            #expect(store.deadLetterCount(group: "h") == 3)

            #expect(try store.addDeadLetter(Self.record("g", offset: 50)) == 5)
            #expect(store.deadLetters(group: "g", after: 0, limit: 10).map(\.id) == [5])
        }
    }

    @Test("a requeue moves entries into the saved retries in one step and returns them", arguments: StoreKind.allCases)
    func requeue(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
            for offset in 0..<3 { try store.addDeadLetter(Self.record("g", offset: UInt64(offset))) }
            let makeRetry = { (record: DeadLetterRecord) in
                RetryState(
                    group: record.group, topic: record.topic, offset: record.offset, origin: .requeuedDeadLetter, attempt: 1,
                    dueMicros: 42, lastError: record.lastError, key: "", body: record.body)
            }
            let requeued = try store.requeueDeadLetters(group: "g", ids: [1, 3], as: makeRetry)
            #expect(requeued.map(\.id) == [1, 3])
            #expect(store.deadLetters(group: "g", after: 0, limit: 10).map(\.id) == [2])
            let retries = try store.load().retries.sorted { $0.offset < $1.offset }
            #expect(retries.map(\.offset) == [0, 2])
            #expect(retries.allSatisfy { $0.origin == .requeuedDeadLetter && $0.attempt == 1 && $0.dueMicros == 42 })
            #expect(retries.map(\.body) == [[0, 0xAB], [2, 0xAB]], "a requeued retry keeps its own copy of the event")
            #expect(try store.requeueDeadLetters(group: "g", ids: nil, as: makeRetry).map(\.id) == [2])
            #expect(store.deadLetterCount(group: "g") == 0)
            #expect(try store.load().retries.count == 3)
        }
    }

    @Test("a group's dead-lettered offsets, bodies and oldest ids, for restore and for `all`", arguments: StoreKind.allCases)
    func lookups(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
            for offset in [5, 7, 5] as [UInt64] { try store.addDeadLetter(Self.record("g", offset: offset)) }
            try store.addDeadLetter(Self.record("h", offset: 9))
            #expect(store.deadLetteredOffsets(group: "g", topic: "orders.created") == [5, 7])
            #expect(store.deadLetteredOffsets(group: "g", topic: "other").isEmpty)
            #expect(store.deadLetterBodies(group: "g", topic: "orders.created", offset: 5) == [[5, 0xAB], [5, 0xAB]])
            #expect(store.deadLetterBodies(group: "h", topic: "orders.created", offset: 5).isEmpty)
            #expect(store.deadLetterIDs(group: "g", limit: 2) == [1, 2])
            #expect(store.deadLetterIDs(group: "g", limit: 10) == [1, 2, 3])
            #expect(store.deadLetterIDs(group: "unknown", limit: 10).isEmpty)
        }
    }

    @Test("every ticket handed out becomes durable, and saving reports no failures", arguments: StoreKind.allCases)
    func ticketsBecomeDurable(_ kind: StoreKind) throws {
        try kind.withGroupState { store in
            try store.save(GroupStateFixture.first)
            let ticket = store.ticket
            store.syncSoon()
            let deadline = ContinuousClock.now + .seconds(10)
            while store.durableTicket < ticket && ContinuousClock.now < deadline {
                if let descriptor = store.notificationDescriptor { _ = readableDescriptors([descriptor], timeout: .milliseconds(10)) }
                store.collectNotifications()
            }
            #expect(store.durableTicket >= ticket)
            #expect(store.saveFailures == 0)
            #expect(store.recoveryProblems.isEmpty)
        }
        try kind.withGroupState { store in
            store.close()
            #expect(!store.closedWithUnsavedChanges)
        }
    }
}
