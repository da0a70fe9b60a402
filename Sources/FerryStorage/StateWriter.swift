import FerryRuntime
import Foundation
import Synchronization

/// Saves group state on its own thread, so a SQLite write (and its fsync) never stalls the
/// broker loop. Saves are applied in order; a failed one is kept (merged into one change set)
/// and retried with the next, and its error is reported to the next caller.
///
/// Saves that move only cursors go to a ``CursorJournal`` (one small append) rather than to
/// SQLite; the journal is fdatasynced at most ``syncInterval`` after an append, and folded into
/// the database when it grows past ``foldBytes``, before any save that changes more than
/// cursors, on ``flush()`` and on ``stop()``. A killed ferryd's journal is folded in when the
/// store opens again.
///
/// Each save gets a ticket; ``durableTicket`` is the last ticket whose save (and every one
/// before it) is on disk through a power cut, and ``notifications`` wakes the broker loop when
/// it moves, so that a reply that promises durable group state (a new group's `Subscribed`)
/// waits for it without blocking the loop.
final class StateWriter: Sendable {
    enum Work: Sendable {
        case save(GroupStateChanges, ticket: UInt64)
        case barrier(DispatchSemaphore)
        /// Make everything saved so far durable now rather than at the next interval.
        case syncNow
        case stop
    }

    /// Journal size at which it is folded into the database.
    static let foldBytes = 1 << 20
    /// How soon a failed save or fold is retried when no new save comes.
    static let retryInterval = Duration.seconds(1)

    let database: GroupStateDatabase
    let thread = LoopThread<Work>(name: "ferry-state")
    /// Readable when ``durableTicket`` moved; drained by the broker loop.
    let notifications = WakeupQueue<UInt64>()
    let lastError = Mutex<StorageError?>(nil)
    let failedSaves = Atomic<Int>(0)
    let unsavedAtStop = Atomic<Bool>(false)
    private let issuedTickets = Atomic<UInt64>(0)
    let durableTickets = Atomic<UInt64>(0)
    /// Groups defined or changed by queued saves not in the database yet (a count per group).
    let queuedDefinitions = Mutex<[String: Int]>([:])
    /// The longest a journaled cursor waits for an fdatasync.
    let syncInterval: Duration
    /// What opening found in the journal a previous run left: a torn or corrupt record, or a
    /// fold into the database that failed (the journal is then kept and folded later).
    let journalProblem: String?

    /// Opens the cursor journal at `journalPath`, folds in whatever a previous run left in it,
    /// and starts the thread.
    init(database: GroupStateDatabase, journalPath: String, syncInterval: Duration = .milliseconds(200)) throws(StorageError) {
        self.database = database
        self.syncInterval = syncInterval
        var journal = try CursorJournal(path: journalPath)
        let folded: UInt64
        let contents: CursorJournal.Contents
        do {
            folded = try database.foldedJournalSequence()
            contents = try journal.read()
        } catch {
            journal.close()
            throw error
        }
        var problem = contents.problem
        let unfolded = contents.records.filter { $0.sequence > folded }
        let unfoldedChanges = unfolded.map { Self.changes(of: $0.cursors) }
        // Cursors left in the journal for the thread to fold later, should folding now fail
        // (a full disk): the store still opens, and they reach the database once it can.
        var pending: [CursorState] = []
        if let last = unfolded.last {
            do {
                try database.save(unfoldedChanges, journalSequence: last.sequence)
                try? journal.removeAll()
            } catch {
                pending = Self.latestCursors(in: unfoldedChanges)
                problem = [problem, "folding \(journalPath) into the database failed (\(error)); it is kept and retried"]
                    .compactMap { $0 }.joined(separator: "; ")
            }
        } else {
            try? journal.removeAll()
        }
        journalProblem = problem
        let sequence = max(folded, contents.records.last?.sequence ?? 0)
        thread.start { [self, journal, pending] in
            run(journal: journal, sequence: sequence, pending: pending)
        }
    }

    /// Queues a save and returns its ticket; throws the error of an earlier save that failed
    /// (it is being retried, and this one is queued behind it).
    @discardableResult
    func save(_ changes: GroupStateChanges) throws(StorageError) -> UInt64 {
        let ticket = issuedTickets.add(1, ordering: .relaxed).newValue
        if !changes.groups.isEmpty {
            queuedDefinitions.withLock { queued in for group in changes.groups { queued[group.name, default: 0] += 1 } }
        }
        thread.commands.push(.save(changes, ticket: ticket))
        if let error = lastError.withLock({ $0 }) { throw error }
        return ticket
    }

    /// The ticket of the last save queued.
    var lastTicket: UInt64 { issuedTickets.load(ordering: .relaxed) }

    /// Every save up to this ticket is on disk through a power cut.
    var durableTicket: UInt64 { durableTickets.load(ordering: .relaxed) }

    /// Whether a queued save defines or changes one of `groups` and is not in the database yet.
    func hasQueuedDefinition(ofAny groups: Set<String>) -> Bool {
        queuedDefinitions.withLock { queued in groups.contains { queued[$0] != nil } }
    }

    /// Asks for everything queued so far to be made durable now (the journal synced at once
    /// instead of at the end of its interval).
    func syncSoon() { thread.commands.push(.syncNow) }

    /// The error of the last save, while it is being retried (nil once saves succeed again).
    var failure: StorageError? { lastError.withLock { $0 } }

    /// Saves that failed so far (each was retried), including failures no caller saw.
    var failureCount: Int { failedSaves.load(ordering: .relaxed) }

    /// Whether the thread stopped with changes it could not save (their acks are then
    /// redelivered after a restart).
    var stoppedWithUnsavedChanges: Bool { unsavedAtStop.load(ordering: .relaxed) }

    /// Returns once everything queued so far is saved in the database (or has failed).
    func flush() {
        let done = DispatchSemaphore(value: 0)
        thread.commands.push(.barrier(done))
        done.wait()
    }

    /// Saves what is queued, folds the journal into the database and ends the thread.
    func stop() {
        thread.stop(sending: .stop)
    }

    func publishDurable(_ ticket: UInt64) {
        guard ticket > durableTickets.load(ordering: .relaxed) else { return }
        durableTickets.store(ticket, ordering: .relaxed)
        notifications.push(ticket)
    }

    /// The last state of each cursor the batch changes, in the order first changed.
    static func latestCursors(in batch: [GroupStateChanges]) -> [CursorState] {
        GroupStateChanges.merged(batch).cursors
    }

    static func changes(of cursors: [CursorState]) -> GroupStateChanges {
        var changes = GroupStateChanges()
        changes.cursors = cursors
        return changes
    }
}
