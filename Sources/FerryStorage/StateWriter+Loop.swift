import FerryRuntime
import Foundation
import Synchronization

/// The `ferry-state` thread's loop: saves go to the cursor journal (cursor-only changes) or
/// are folded with the journal into the database; the journal is fdatasynced within the sync
/// interval; failed saves are retried in order; durable tickets are published as they land.
extension StateWriter {
    /// What the loop carries from one pass to the next.
    struct LoopState {
        var journal: CursorJournal
        var sequence: UInt64
        /// The latest state of each cursor the journal holds and the database does not.
        var journaled: [CursorKey: CursorState] = [:]
        /// A fold failed: retry it (every second) even if no save comes.
        var foldFailed: Bool
        var failed: [GroupStateChanges] = []
        var failedDefinitions: [String] = []
        /// The last ticket written to the journal or the database, and the last one that failed.
        var appliedTicket: UInt64 = 0
        var failedTicket: UInt64 = 0
        /// Since when the journal holds records no fdatasync covered yet.
        var unsyncedSince: MonotonicInstant?
        var syncRequested = false
        var running = true

        init(journal: CursorJournal, sequence: UInt64, pending: [CursorState]) {
            self.journal = journal
            self.sequence = sequence
            for cursor in pending { journaled[CursorKey(cursor)] = cursor }
            foldFailed = !pending.isEmpty
        }
    }

    /// What one pass took from the queue.
    struct Pass {
        var batch: [GroupStateChanges]
        var definitions: [String]
        var lastTicket: UInt64
        var barriers: [DispatchSemaphore] = []
    }

    func run(journal: CursorJournal, sequence: UInt64, pending: [CursorState]) {
        var state = LoopState(journal: journal, sequence: sequence, pending: pending)
        while state.running {
            if !state.syncRequested { thread.commands.wait(timeout: waitTimeout(state)) }
            let pass = takePass(&state)
            let mustFold =
                state.foldFailed || !pass.barriers.isEmpty || !state.running || state.journal.damaged
                || state.journal.size >= Self.foldBytes || pass.batch.contains { !$0.changesOnlyCursors }
            if !pass.batch.isEmpty || (mustFold && !state.journaled.isEmpty) { write(pass, fold: mustFold, &state) }
            syncJournalIfDue(&state)
            if state.failed.isEmpty && state.unsyncedSince == nil { publishDurable(state.appliedTicket) }
            for barrier in pass.barriers { barrier.signal() }
        }
        // Cursors still only in the journal are not lost: opening the store folds them in.
        if !state.failed.isEmpty { unsavedAtStop.store(true, ordering: .relaxed) }
        state.journal.close()
    }

    /// How long to wait for work: until failed saves are retried, or the journal's sync is due.
    private func waitTimeout(_ state: LoopState) -> Duration? {
        var timeout: Duration?
        if !state.failed.isEmpty || state.foldFailed { timeout = Self.retryInterval }
        if let unsyncedSince = state.unsyncedSince {
            let left = max(.zero, MonotonicInstant.now().duration(to: unsyncedSince + syncInterval))
            timeout = min(timeout ?? left, left)
        }
        return timeout
    }

    /// Takes what is queued, after what failed before (in order).
    private func takePass(_ state: inout LoopState) -> Pass {
        var pass = Pass(
            batch: state.failed, definitions: state.failedDefinitions, lastTicket: max(state.appliedTicket, state.failedTicket))
        for work in thread.commands.drain() {
            switch work {
            case .save(let changes, let ticket):
                pass.batch.append(changes)
                pass.lastTicket = ticket
                pass.definitions += changes.groups.map(\.name)
            case .barrier(let semaphore): pass.barriers.append(semaphore)
            case .syncNow: state.syncRequested = true
            case .stop: state.running = false
            }
        }
        return pass
    }

    /// Writes the pass: folded with the journal into the database (synced at commit), or
    /// appended to the journal. A failure keeps the pass, as one change set, for the next try.
    private func write(_ pass: Pass, fold: Bool, _ state: inout LoopState) {
        do throws(StorageError) {
            if fold {
                var all: [GroupStateChanges] = []
                if !state.journaled.isEmpty { all.append(Self.changes(of: Array(state.journaled.values))) }
                // Synced at commit: the journal's cursors are durable from here on.
                try database.save(all + pass.batch, journalSequence: state.sequence)
                state.journaled.removeAll()
                state.unsyncedSince = nil
                // Should this fail, the records are at or below the folded sequence and are
                // skipped when the store opens.
                try? state.journal.removeAll()
                state.appliedTicket = pass.lastTicket
                publishDurable(state.appliedTicket)
            } else {
                let cursors = Self.latestCursors(in: pass.batch)
                try state.journal.append(CursorJournal.Record(sequence: state.sequence + 1, cursors: cursors))
                state.sequence += 1
                for cursor in cursors { state.journaled[CursorKey(cursor)] = cursor }
                state.appliedTicket = pass.lastTicket
                if state.unsyncedSince == nil { state.unsyncedSince = .now() }
            }
            queuedDefinitions.withLock { queued in
                for name in pass.definitions {
                    queued[name, default: 1] -= 1
                    if queued[name] == 0 { queued[name] = nil }
                }
            }
            state.failed = []
            state.failedDefinitions = []
            state.foldFailed = false
            lastError.withLock { $0 = nil }
        } catch {
            // Kept as one change set, so a save failing for long holds one entry per group,
            // cursor and retry.
            state.failed = [GroupStateChanges.merged(pass.batch)]
            state.failedDefinitions = pass.definitions
            state.failedTicket = pass.lastTicket
            state.foldFailed = fold
            lastError.withLock { $0 = error }
            failedSaves.add(1, ordering: .relaxed)
        }
    }

    /// fdatasyncs the journal when asked, when stopping, or once its oldest unsynced record is
    /// `syncInterval` old.
    private func syncJournalIfDue(_ state: inout LoopState) {
        var syncFailed = false
        if let since = state.unsyncedSince, state.syncRequested || !state.running || MonotonicInstant.now() >= since + syncInterval {
            if state.journal.sync() {
                state.unsyncedSince = nil
            } else {
                // The journal's pages may never reach the disk (Linux reports a write-back error
                // once): fold them into the database instead, which syncs, at once.
                state.foldFailed = true
                syncFailed = true
                failedSaves.add(1, ordering: .relaxed)
            }
        }
        state.syncRequested = syncFailed && state.running
    }
}
