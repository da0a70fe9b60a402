import FerryTestSupport
import Foundation
import Testing

@testable import FerryStorage

#if canImport(Glibc)
    import Glibc
#endif

/// When saved group state counts as durable (through a power cut): group definitions at their
/// synced commit, cursor moves at the next journal sync, which comes within the configured
/// interval or at once when asked for. The broker holds replies on these tickets.
@Suite("DurableGroupStateStore: group-state tickets become durable when synced")
struct GroupStateDurabilityTests {
    static func definition(_ name: String) -> GroupStateChanges {
        var changes = GroupStateChanges()
        changes.groups = [GroupDefinition(name: name, patterns: ["t"], policy: "{}", startAtLatest: true)]
        changes.cursors = [CursorState(group: name, topic: "t", next: 7, inFlight: [])]
        return changes
    }

    static func cursor(_ group: String, next: UInt64) -> GroupStateChanges {
        var changes = GroupStateChanges()
        changes.cursors = [CursorState(group: group, topic: "t", next: next, inFlight: [])]
        return changes
    }

    static func readable(_ descriptor: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 1
    }

    @Test("a group definition is durable once its synced commit is made, and the broker's descriptor says so")
    func definitionIsDurableAtCommit() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openGroupState(directory) { $0.groupStateSyncMilliseconds = 60_000 }
        defer { store.close() }
        let descriptor = try #require(store.notificationDescriptor)
        try store.save(Self.definition("g"))
        let ticket = store.ticket
        #expect(ticket > 0)
        #expect(Wait.untilSync(timeout: .seconds(10)) { store.durableTicket >= ticket })
        #expect(Self.readable(descriptor))
        store.collectNotifications()
        #expect(!Self.readable(descriptor))
    }

    @Test("a cursor-only save waits for the journal's sync: at the interval's end, or at once when asked")
    func cursorMovesWaitForTheJournalSync() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let store = try openGroupState(directory) { $0.groupStateSyncMilliseconds = 60_000 }
            defer { store.close() }
            try store.save(Self.definition("g"))
            let defined = store.ticket
            #expect(Wait.untilSync(timeout: .seconds(10)) { store.durableTicket >= defined })
            try store.save(Self.cursor("g", next: 8))
            let moved = store.ticket
            // Journaled, not synced: a minute is far away.
            #expect(!Wait.untilSync(timeout: .milliseconds(300)) { store.durableTicket >= moved })
            store.syncSoon()
            #expect(Wait.untilSync(timeout: .seconds(10)) { store.durableTicket >= moved })
        }
        do {
            let store = try openGroupState(directory) { $0.groupStateSyncMilliseconds = 50 }
            defer { store.close() }
            #expect(try store.load().cursors.first?.next == 8)
            try store.save(Self.cursor("g", next: 9))
            let moved = store.ticket
            // Synced by the 50 ms interval with nobody asking.
            #expect(Wait.untilSync(timeout: .seconds(10)) { store.durableTicket >= moved })
        }
    }

    @Test("a dead letter waits for a queued save that defines its group, so it never reaches the disk first")
    func deadLetterAfterItsGroup() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openGroupState(directory) { $0.groupStateSyncMilliseconds = 60_000 }
        defer { store.close() }
        // The group's save fails once (as a full disk would): the state thread keeps it and tries
        // again a second later, unless something makes it land sooner.
        store.injectGroupStateSaveFailures(1)
        // The store takes the save even if it reports the failure at once (the state thread may
        // already have tried it by the time the call returns).
        try? store.save(Self.definition("g"))
        #expect(Wait.untilSync(timeout: .seconds(10)) { store.groupStateSaveFailure != nil })
        // Written directly to the database by the caller's thread: the group's save lands first.
        try store.addDeadLetter(
            DeadLetterRecord(
                id: 0, group: "g", topic: "t", offset: 0, cause: .rejected, attempts: 1, lastError: "no", deadLetteredAtMicros: 0,
                body: [1]))
        #expect(store.durableTicket >= store.ticket)
        let snapshot = try store.load()
        #expect(snapshot.groups.map(\.name) == ["g"])
        #expect(store.deadLetterCount(group: "g") == 1)
    }
}
