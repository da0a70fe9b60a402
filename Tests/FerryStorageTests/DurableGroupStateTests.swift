import FerryTestSupport
import Foundation
import GRDB
import Testing

@testable import FerryStorage

@Suite("DurableGroupStateStore: group state and dead letters survive reopen")
struct DurableGroupStateTests {
    @Test("a new store has no group state; an empty save is a no-op")
    func empty() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openGroupState(directory)
        defer { store.close() }
        expectSameState(try store.load(), GroupStateSnapshot())
        try store.save(GroupStateChanges())
        expectSameState(try store.load(), GroupStateSnapshot())
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("groups.sqlite").path))
    }

    @Test("groups, cursors with in-flight offsets and retries are added, replaced and removed, and survive reopen")
    func groupState() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let store = try openGroupState(directory)
            try store.save(GroupStateFixture.first)
            expectSameState(try store.load(), GroupStateFixture.afterFirst)
            store.close()
        }
        do {
            let store = try openGroupState(directory)
            expectSameState(try store.load(), GroupStateFixture.afterFirst)
            try store.save(GroupStateFixture.second)
            expectSameState(try store.load(), GroupStateFixture.afterSecond)
            store.close()
        }
        let store = try openGroupState(directory)
        defer { store.close() }
        let state = try store.load()
        expectSameState(state, GroupStateFixture.afterSecond)
        #expect(state.groups.count == 2 && state.cursors.count == 3 && state.retries.count == 2)
        let audit = try #require(state.cursors.first { $0.group == "audit" })
        #expect(audit.next == GroupStateFixture.bigOffset, "offsets above Int64.max round-trip")
        #expect(audit.inFlight == [PendingOffset(offset: GroupStateFixture.bigOffset - 1, attempt: .max)])
    }

    @Test("a database from before retries kept bodies opens, keeps its rows and then saves bodies")
    func migratesEarlierSchema() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        // The retries table as the first release wrote it, with one row; no migration record.
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let database = try DatabaseQueue(path: directory.appendingPathComponent("groups.sqlite").path)
            try database.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE retries(grp TEXT NOT NULL, topic TEXT NOT NULL, offset INTEGER NOT NULL,
                            tracks INTEGER NOT NULL, attempt INTEGER NOT NULL, due_us INTEGER NOT NULL, last_error TEXT NOT NULL,
                            key TEXT NOT NULL, PRIMARY KEY(grp, topic, offset, tracks));
                        INSERT INTO retries VALUES ('g', 'orders.created', 3, 1, 2, 1700000000000000, 'timeout', 'k');
                        """)
            }
            try database.close()
        }
        let old = RetryState(
            group: "g", topic: "orders.created", offset: 3, origin: .cursor, attempt: 2, dueMicros: 1_700_000_000_000_000,
            lastError: "timeout", key: "k")
        let requeued = GroupStateFixture.firstRetries[1]
        #expect(requeued.body != nil)
        do {
            let store = try openGroupState(directory)
            #expect(try store.load().retries == [old])
            var changes = GroupStateChanges()
            changes.addRetry(requeued)
            try store.save(changes)
            store.close()
        }
        let store = try openGroupState(directory)
        defer { store.close() }
        var expected = GroupStateSnapshot()
        expected.retries = [old, requeued]
        expectSameState(try store.load(), expected)
    }

    /// The broker hands each change to the store once, even when the store reports a failure,
    /// and relies on the store to land it before a later requeue's rows.
    @Test("a failed save is retried by the store in order; a later save is taken though it throws; a requeue lands after both")
    func failedSavesLandBeforeRequeue() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openGroupState(directory)
        defer { store.close() }
        let letter = deadLetter("g", offset: 4)
        #expect(try store.addDeadLetter(letter) == 1)
        // An earlier requeued retry of the same offset, delivered since: its row comes and goes
        // in saves that fail at first. Replayed after the requeue, the removal would delete the
        // requeue's row, which has the same id.
        let earlier = GroupStateFixture.retry("g", "orders.created", 4, origin: .requeuedDeadLetter, attempt: 1, error: "requeued", body: [1])
        var added = GroupStateChanges()
        added.addRetry(earlier)
        var removed = GroupStateChanges()
        removed.removeRetry(earlier.id)
        removed.cursors = [CursorState(group: "g", topic: "orders.created", next: 9, inFlight: [])]

        // Three: the first save, its retry with the second save, and the retry a second later.
        store.injectGroupStateSaveFailures(3)
        try? store.save(added)
        #expect(Wait.untilSync(timeout: .seconds(10)) { store.groupStateSaveFailure != nil })
        #expect(throws: StorageError.self, "a save while an earlier one fails reports it") { try store.save(removed) }
        #expect(
            Wait.untilSync(timeout: .seconds(10)) { store.injectedGroupStateSaveFailuresLeft == 0 },
            "the store retried the failed save with the new one")

        let requeued = try store.requeueDeadLetters(group: "g", ids: nil) { record in
            GroupStateFixture.retry("g", "orders.created", record.offset, origin: .requeuedDeadLetter, attempt: 1, error: "requeued", body: record.body)
        }
        #expect(requeued.map(\.offset) == [4], "the disk works again: the requeue goes through")
        #expect(store.groupStateSaveFailure == nil)
        let state = try store.load()
        #expect(state.retries.map(\.body) == [letter.body], "the requeue's row, not the earlier one, and not removed")
        #expect(state.cursors.map(\.next) == [9], "the save that threw was taken")
        #expect(store.deadLetterCount(group: "g") == 0)
    }

    @Test("a requeue while group state cannot be saved is refused and changes nothing; it goes through once saves work")
    func requeueRefusedWhileSavesFail() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openGroupState(directory)
        defer { store.close() }
        #expect(try store.addDeadLetter(deadLetter("g", offset: 4)) == 1)
        store.injectGroupStateSaveFailures(.max)
        var changes = GroupStateChanges()
        changes.cursors = [CursorState(group: "g", topic: "orders.created", next: 9, inFlight: [])]
        try? store.save(changes)
        let requeue = {
            try store.requeueDeadLetters(group: "g", ids: nil) { record in
                GroupStateFixture.retry("g", "orders.created", record.offset, origin: .requeuedDeadLetter, attempt: 1, error: "requeued")
            }
        }
        let error = #expect(throws: StorageError.self) { try requeue() }
        #expect(error?.message.contains("group state cannot be saved right now") == true, "\(String(describing: error))")
        #expect(store.deadLetterCount(group: "g") == 1)

        store.injectGroupStateSaveFailures(0)
        #expect(try requeue().count == 1)
        #expect(try store.load().retries.count == 1)
    }

    @Test("a dead letter that removes a requeued retry's row lands after the saves before it, and is refused while they fail")
    func deadLetterAfterQueuedSaves() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openGroupState(directory)
        defer { store.close() }
        let retry = GroupStateFixture.retry("g", "orders.created", 4, origin: .requeuedDeadLetter, attempt: 1, error: "requeued", body: [1])
        var added = GroupStateChanges()
        added.addRetry(retry)
        try store.save(added)
        #expect(try store.load().retries.count == 1)

        // Failing again, the retry is rescheduled (its row saved anew, but the save fails), then
        // dead-lettered: the dead letter must not land before the row it removes.
        store.injectGroupStateSaveFailures(.max)
        var rescheduled = GroupStateChanges()
        rescheduled.addRetry(GroupStateFixture.retry("g", "orders.created", 4, origin: .requeuedDeadLetter, attempt: 2, error: "again", body: [1]))
        try? store.save(rescheduled)
        let error = #expect(throws: StorageError.self) {
            try store.addDeadLetters([(deadLetter("g", offset: 4), removingRetry: retry.id)])
        }
        #expect(error?.message.contains("group state cannot be saved right now") == true, "\(String(describing: error))")
        #expect(store.deadLetterCount(group: "g") == 0, "refused: nothing written")

        store.injectGroupStateSaveFailures(0)
        #expect(try store.addDeadLetters([(deadLetter("g", offset: 4), removingRetry: retry.id)]) == [1])
        #expect(try store.load().retries.isEmpty, "the rescheduled row landed first, and the dead letter removed it")
    }

    @Test("failed saves are counted, retries included; a store closed while saves fail says so")
    func saveFailuresCounted() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        var changes = GroupStateChanges()
        changes.groups = [GroupDefinition(name: "g", patterns: ["t"], policy: "{}", startAtLatest: false)]
        do {
            let store = try openGroupState(directory)
            store.injectGroupStateSaveFailures(2)
            try? store.save(changes)
            // The second failure is the store's own retry, a second later: no save reports it.
            #expect(Wait.untilSync(timeout: .seconds(10)) { store.saveFailures == 2 })
            #expect(Wait.untilSync(timeout: .seconds(10)) { store.groupStateSaveFailure == nil }, "the third try saved it")
            #expect(store.saveFailures == 2)
            store.close()
            #expect(!store.closedWithUnsavedChanges)
        }
        var more = GroupStateChanges()
        more.groups = [GroupDefinition(name: "h", patterns: ["t"], policy: "{}", startAtLatest: false)]
        do {
            let store = try openGroupState(directory)
            store.injectGroupStateSaveFailures(.max)
            try? store.save(more)
            store.close()
            #expect(store.closedWithUnsavedChanges)
        }
        let store = try openGroupState(directory)
        defer { store.close() }
        #expect(try store.load().groups.map(\.name) == ["g"], "what closing could not save is gone, and reported")
    }

    @Test("dead letters: ids per group from 1; list, count, remove by ids and all survive reopen")
    func deadLetters() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let store = try openGroupState(directory)
            #expect(try store.addDeadLetter(deadLetter("g", offset: 10)) == 1)
            #expect(try store.addDeadLetter(deadLetter("h", offset: 20)) == 1)
            #expect(try store.addDeadLetter(deadLetter("g", offset: 11)) == 2)
            #expect(try store.addDeadLetter(deadLetter("g", offset: 12)) == 3)
            #expect(try store.addDeadLetter(deadLetter("g", offset: 13)) == 4)
            #expect(try store.addDeadLetter(deadLetter("h", offset: 21)) == 2)
            store.close()
        }
        do {
            let store = try openGroupState(directory)
            let entries = store.deadLetters(group: "g", after: 0, limit: 10)
            #expect(entries.map(\.id) == [1, 2, 3, 4])
            #expect(entries.map(\.offset) == [10, 11, 12, 13])
            let second = try #require(entries.dropFirst().first)
            #expect(second.group == "g" && second.topic == "orders.created")
            #expect(second.cause == .rejected)
            #expect(second.attempts == 12)
            #expect(second.lastError == "error 11")
            #expect(second.deadLetteredAtMicros == 110)
            #expect(second.body == [11, 0xAB])
            #expect(entries.first?.cause == .maxAttempts)
            #expect(store.deadLetters(group: "g", after: 1, limit: 2).map(\.id) == [2, 3])
            #expect(store.deadLetters(group: "g", after: 4, limit: 2).isEmpty)
            #expect(store.deadLetters(group: "h", after: 0, limit: 10).map(\.offset) == [20, 21])
            #expect(store.deadLetters(group: "unknown", after: 0, limit: 10).isEmpty)
            #expect(store.deadLetterCount(group: "g") == 4)
            #expect(store.deadLetterCount(group: "unknown") == 0)

            let removed = try store.removeDeadLetters(group: "g", ids: [1, 3, 42])
            #expect(removed.map(\.id).sorted() == [1, 3])
            #expect(Set(removed.map(\.offset)) == [10, 12])
            #expect(try store.removeDeadLetters(group: "g", ids: [1]).isEmpty, "already removed")
            store.close()
        }
        do {
            let store = try openGroupState(directory)
            #expect(store.deadLetterCount(group: "g") == 2)
            #expect(store.deadLetters(group: "g", after: 0, limit: 10).map(\.id) == [2, 4])
            let all = try store.removeDeadLetters(group: "g", ids: nil)
            #expect(all.map(\.id) == [2, 4])
            #expect(store.deadLetterCount(group: "h") == 2, "other groups are untouched")
            store.close()
        }
        let store = try openGroupState(directory)
        defer { store.close() }
        #expect(store.deadLetterCount(group: "g") == 0)
        #expect(store.deadLetters(group: "g", after: 0, limit: 10).isEmpty)
        #expect(store.deadLetterCount(group: "h") == 2)
    }

    @Test("dead-letter ids are never reused, even after removing the newest or all entries (proto/README.md: never reused)")
    func idsNeverReused() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let store = try openGroupState(directory)
            for offset in 0..<3 { try store.addDeadLetter(deadLetter("g", offset: UInt64(offset))) }
            _ = try store.removeDeadLetters(group: "g", ids: [3])
            #expect(try store.addDeadLetter(deadLetter("g", offset: 3)) == 4, "removing the newest entry must not free its id")
            _ = try store.removeDeadLetters(group: "g", ids: nil)
            store.close()
        }
        let store = try openGroupState(directory)
        defer { store.close() }
        #expect(try store.addDeadLetter(deadLetter("g", offset: 4)) == 5, "removing every entry must not restart the ids")
        #expect(store.deadLetters(group: "g", after: 0, limit: 10).map(\.id) == [5])
    }

    @Test("the event log and group state live side by side and both survive reopen")
    func eventsAndState() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let log = try openStore(directory)
            let store = try openGroupState(directory)
            _ = try log.append(topic: "orders.created", events: (0..<5).map { item($0) })
            try store.save(GroupStateFixture.first)
            try store.addDeadLetter(deadLetter("billing", offset: 2))
            log.close()
            store.close()
        }
        let log = try openStore(directory)
        let store = try openGroupState(directory)
        defer {
            log.close()
            store.close()
        }
        #expect(log.topics == ["orders.created"], "groups.sqlite is not a topic")
        #expect(log.bounds(topic: "orders.created") == 0..<5)
        expectSameState(try store.load(), GroupStateFixture.afterFirst)
        #expect(store.deadLetterCount(group: "billing") == 1)
    }
}
