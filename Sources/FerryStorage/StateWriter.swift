import FerryWakeup
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Saves group state on its own thread, so a SQLite write (and the occasional WAL checkpoint)
/// never stalls the broker loop. Saves are applied in order; a failed one is kept (merged into
/// one change set) and retried with the next, and its error is reported to the next caller.
///
/// Saves that move only cursors go to a ``CursorJournal`` (one small append) rather than to
/// SQLite; the journal is folded into the database when it grows past ``foldBytes``, before
/// any save that changes more than cursors, on ``flush()`` and on ``stop()``. A killed ferryd's
/// journal is folded in when the store opens again.
final class StateWriter: Sendable {
    private enum Work: Sendable {
        case save(GroupStateChanges)
        case barrier(DispatchSemaphore)
        case stop
    }

    /// Journal size at which it is folded into the database.
    static let foldBytes = 1 << 20

    private let database: GroupStateDatabase
    private let queue = WakeupQueue<Work>()
    private let lastError = Mutex<StorageError?>(nil)
    private let failedSaves = Atomic<Int>(0)
    private let unsavedAtStop = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)
    /// What opening found in the journal a previous run left: a torn or corrupt record, or a
    /// fold into the database that failed (the journal is then kept and folded later).
    let journalProblem: String?

    /// Opens the cursor journal at `journalPath`, folds in whatever a previous run left in it,
    /// and starts the thread.
    init(database: GroupStateDatabase, journalPath: String) throws(StorageError) {
        self.database = database
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
        DedicatedThread.start(name: "ferry-state") { [self, journal, pending] in
            run(journal: journal, sequence: sequence, pending: pending)
        }
    }

    /// Queues a save; throws the error of an earlier save that failed (it is being retried).
    func save(_ changes: GroupStateChanges) throws(StorageError) {
        queue.push(.save(changes))
        if let error = lastError.withLock({ $0 }) { throw error }
    }

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
        queue.push(.barrier(done))
        done.wait()
    }

    func stop() {
        queue.push(.stop)
        stopped.wait()
    }

    private func run(journal: CursorJournal, sequence: UInt64, pending: [CursorState]) {
        var journal = journal
        var sequence = sequence
        /// The latest state of each cursor the journal holds and the database does not.
        var journaled: [CursorKey: CursorState] = [:]
        for cursor in pending { journaled[CursorKey(cursor)] = cursor }
        /// A fold failed: retry it (every second) even if no save comes.
        var foldFailed = !pending.isEmpty
        var descriptor = pollfd(fd: queue.fileDescriptor, events: Int16(POLLIN), revents: 0)
        var failed: [GroupStateChanges] = []
        var running = true
        while running {
            _ = poll(&descriptor, 1, failed.isEmpty && !foldFailed ? -1 : 1000)
            var batch = failed
            var barriers: [DispatchSemaphore] = []
            for work in queue.drain() {
                switch work {
                case .save(let changes): batch.append(changes)
                case .barrier(let semaphore): barriers.append(semaphore)
                case .stop: running = false
                }
            }
            let mustFold =
                foldFailed || !barriers.isEmpty || !running || journal.damaged || journal.size >= Self.foldBytes
                || batch.contains { !$0.changesOnlyCursors }
            if !batch.isEmpty || (mustFold && !journaled.isEmpty) {
                do {
                    if mustFold {
                        var all: [GroupStateChanges] = []
                        if !journaled.isEmpty { all.append(Self.changes(of: Array(journaled.values))) }
                        try database.save(all + batch, journalSequence: sequence)
                        journaled.removeAll()
                        // Should this fail, the records are at or below the folded sequence and
                        // are skipped when the store opens.
                        try? journal.removeAll()
                    } else {
                        let cursors = Self.latestCursors(in: batch)
                        try journal.append(CursorJournal.Record(sequence: sequence + 1, cursors: cursors))
                        sequence += 1
                        for cursor in cursors { journaled[CursorKey(cursor)] = cursor }
                    }
                    failed = []
                    foldFailed = false
                    lastError.withLock { $0 = nil }
                } catch {
                    // Kept as one change set, so a save failing for long holds one entry per
                    // group, cursor and retry.
                    failed = [GroupStateChanges.merged(batch)]
                    foldFailed = mustFold
                    lastError.withLock { $0 = error }
                    failedSaves.add(1, ordering: .relaxed)
                }
            }
            for barrier in barriers { barrier.signal() }
        }
        // Cursors still only in the journal are not lost: opening the store folds them in.
        if !failed.isEmpty { unsavedAtStop.store(true, ordering: .relaxed) }
        journal.close()
        stopped.signal()
    }

    /// The last state of each cursor the batch changes, in the order first changed.
    private static func latestCursors(in batch: [GroupStateChanges]) -> [CursorState] {
        GroupStateChanges.merged(batch).cursors
    }

    private static func changes(of cursors: [CursorState]) -> GroupStateChanges {
        var changes = GroupStateChanges()
        changes.cursors = cursors
        return changes
    }
}
