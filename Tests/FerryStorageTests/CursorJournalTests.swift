import Foundation
import GRDB
import Testing

@testable import FerryStorage

@Suite("Cursor journal: cursor-only saves between the database's, and what a crash leaves")
struct CursorJournalTests {
    static func record(_ sequence: UInt64, next: UInt64, inFlight: [UInt64] = []) -> CursorJournal.Record {
        CursorJournal.Record(
            sequence: sequence,
            cursors: [
                CursorState(
                    group: "billing", topic: "orders.created", next: next,
                    inFlight: inFlight.map { PendingOffset(offset: $0, attempt: 2) }),
                CursorState(group: "audit ✓", topic: "orders.created", next: UInt64.max - sequence, inFlight: []),
            ])
    }

    /// Waits (up to 10 s) until the state thread has appended to the journal.
    static func waitUntilJournaled(_ journal: URL) throws {
        let deadline = Date().addingTimeInterval(10)
        while fileSize(journal) <= 0 && Date() < deadline { usleep(1000) }
        try #require(fileSize(journal) > 0, "the save reached the journal")
    }

    /// Creates `directory` with a `cursors.journal` holding `records`; returns its path.
    static func writeJournal(_ records: [CursorJournal.Record], in directory: URL) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("cursors.journal").path
        var journal = try CursorJournal(path: path)
        defer { journal.close() }
        for record in records { try journal.append(record) }
        return path
    }

    @Test("records read back as written; a torn last record is cut off and the next append follows the last whole one")
    func tornTail() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let written = [Self.record(1, next: 10, inFlight: [7, 9]), Self.record(2, next: 12), Self.record(3, next: 15, inFlight: [14])]
        let path = try Self.writeJournal(written, in: directory)
        let whole = fileSize(URL(fileURLWithPath: path))
        #expect(truncate(path, off_t(whole - 5)) == 0)

        var journal = try CursorJournal(path: path)
        defer { journal.close() }
        let contents = try journal.read()
        #expect(contents.records == Array(written.prefix(2)))
        #expect(contents.truncatedBytes == CursorJournal.encode(written[2]).count - 5)
        #expect(contents.problem?.contains("torn record") == true)
        try journal.append(Self.record(4, next: 20))
        var reopened = try CursorJournal(path: path)
        defer { reopened.close() }
        #expect(try reopened.read().records.map(\.sequence) == [1, 2, 4])
    }

    @Test("a corrupt record ends the journal: it and what follows are dropped, with the reason")
    func corruptRecord() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let first = Self.record(1, next: 10)
        let path = try Self.writeJournal([first, Self.record(2, next: 11), Self.record(3, next: 12)], in: directory)
        // Flip one byte inside the second record's cursors.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let position = UInt64(CursorJournal.encode(first).count + 20)
        try handle.seek(toOffset: position)
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: position)
        try handle.write(contentsOf: [byte ^ 0xFF])
        try handle.close()

        var journal = try CursorJournal(path: path)
        defer { journal.close() }
        let contents = try journal.read()
        #expect(contents.records == [first])
        #expect(contents.problem?.contains("CRC mismatch") == true)
        #expect(fileSize(URL(fileURLWithPath: path)) == CursorJournal.encode(first).count)
    }

    @Test("a cursor-only save goes to the journal, not the database; flush folds it in and empties the journal")
    func cursorOnlySavesAreJournaled() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openGroupState(directory)
        defer { store.close() }
        let journal = directory.appendingPathComponent("cursors.journal")
        var changes = GroupStateChanges()
        changes.cursors = Self.record(1, next: 10, inFlight: [8]).cursors
        try store.save(changes)
        try Self.waitUntilJournaled(journal)
        #expect(fileSize(journal) == CursorJournal.encode(Self.record(1, next: 10, inFlight: [8])).count)

        let state = try store.load()
        #expect(Set(state.cursors.map(\.next)) == [10, UInt64.max - 1])
        #expect(fileSize(journal) == 0, "loading folds the journal into the database")
    }

    @Test("opening folds in what a killed broker left in the journal, skipping records the database already has")
    func crashLeftovers() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let journal = directory.appendingPathComponent("cursors.journal")
        do {
            let store = try openGroupState(directory)
            var cursorOnly = GroupStateChanges()
            cursorOnly.cursors = Self.record(1, next: 10).cursors
            try store.save(cursorOnly)
            try Self.waitUntilJournaled(journal)
            // A save that changes a group too folds the journal (sequence 1) in with it.
            var mixed = GroupStateChanges()
            mixed.groups = [GroupDefinition(name: "billing", patterns: ["orders.*"], policy: "", startAtLatest: false)]
            mixed.cursors = [CursorState(group: "billing", topic: "orders.created", next: 20, inFlight: [])]
            try store.save(mixed)
            store.close()
        }
        // A kill between that fold and the journal's emptying leaves the folded record behind;
        // suppose a later record (another cursor) made it too.
        do {
            var leftover = try CursorJournal(path: journal.path)
            defer { leftover.close() }
            try leftover.append(Self.record(1, next: 10))
            try leftover.append(
                CursorJournal.Record(sequence: 2, cursors: [CursorState(group: "audit", topic: "orders.created", next: 77, inFlight: [])]))
        }
        let crashed = try openGroupState(directory)
        let recovered = try crashed.load()
        let billing = try #require(recovered.cursors.first { $0.group == "billing" })
        #expect(billing.next == 20, "the stale record is skipped, not applied over the newer state")
        #expect(recovered.cursors.first { $0.group == "audit" }?.next == 77, "the record after it is applied")
        // Sequences go on from the last one seen, so a record journaled now is applied when the
        // next run opens the store while this one never closed it (as if it had been killed).
        var changes = GroupStateChanges()
        changes.cursors = [
            CursorState(group: "billing", topic: "orders.created", next: 21, inFlight: [PendingOffset(offset: 22, attempt: 0)])
        ]
        try crashed.save(changes)
        try Self.waitUntilJournaled(journal)

        let store = try openGroupState(directory)
        let restarted = try #require(try store.load().cursors.first { $0.group == "billing" })
        #expect(restarted.next == 21 && restarted.inFlight == [PendingOffset(offset: 22, attempt: 0)])
        #expect(fileSize(journal) == 0)
        store.close()
        crashed.close()
    }

    @Test("a journal that cannot be folded when the store opens (the database refuses writes) is kept, and folded once it can be")
    func foldFailsOnOpen() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let journal = directory.appendingPathComponent("cursors.journal")
        try openGroupState(directory).close()
        do {
            var leftover = try CursorJournal(path: journal.path)
            defer { leftover.close() }
            try leftover.append(Self.record(1, next: 42))
        }
        // Stands in for a full disk: every write of a cursor fails.
        let database = try DatabaseQueue(path: directory.appendingPathComponent("groups.sqlite").path)
        try database.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON cursors BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let store = try openGroupState(directory)
        defer { store.close() }
        #expect(store.recoveryProblems.contains { $0.contains("failed") && $0.contains("refused") })
        #expect(fileSize(journal) > 0, "the journal is kept")
        #expect(try store.load().cursors.isEmpty)

        try database.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        let state = try store.load()
        #expect(state.cursors.first { $0.group == "billing" }?.next == 42)
        #expect(fileSize(journal) == 0)
    }
}
