import Foundation
import GRDB
import Synchronization

/// Consumer-group state and dead letters in SQLite (WAL, one transaction per save).
///
/// Every transaction is synced before it returns (`synchronous = FULL`: the WAL is fsynced at
/// each commit), so a save, a dead letter or a requeue that returned survives a power cut, and
/// rows reach the disk in the order they were committed. Saves run on the ``StateWriter``'s
/// thread (cursor-only saves go to the ``CursorJournal`` instead), never on the broker loop.
final class GroupStateDatabase: Sendable {
    private let pool: DatabasePool
    /// Saves a test asked to fail (see ``injectSaveFailures(_:)``).
    private let injectedSaveFailures = Atomic<Int>(0)

    init(path: String) throws(StorageError) {
        do {
            pool = try DatabasePool(path: path, configuration: Configuration())
            // After the pool is set up: GRDB's WAL set-up makes the writer NORMAL. The writer is
            // the one connection that commits, and the setting is per connection.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 else {
                    throw StorageError(.io, "SQLite refused synchronous = FULL for \(path)")
                }
            }
            try Self.migrator.migrate(pool)
        } catch {
            throw Self.storageError(error, "opening \(path)")
        }
    }

    /// The schema, step by step: a data directory from an earlier version is brought up to date
    /// when it is opened. (The first step creates only what is missing: databases from before
    /// the migrator have those tables already.)
    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS groups(name TEXT PRIMARY KEY, patterns TEXT NOT NULL, policy TEXT NOT NULL,
                        start_latest INTEGER NOT NULL);
                    CREATE TABLE IF NOT EXISTS cursors(grp TEXT NOT NULL, topic TEXT NOT NULL, next INTEGER NOT NULL,
                        in_flight BLOB NOT NULL, PRIMARY KEY(grp, topic));
                    CREATE TABLE IF NOT EXISTS retries(grp TEXT NOT NULL, topic TEXT NOT NULL, offset INTEGER NOT NULL,
                        tracks INTEGER NOT NULL, attempt INTEGER NOT NULL, due_us INTEGER NOT NULL, last_error TEXT NOT NULL,
                        key TEXT NOT NULL, PRIMARY KEY(grp, topic, offset, tracks));
                    CREATE TABLE IF NOT EXISTS dead_letter_ids(grp TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
                    CREATE TABLE IF NOT EXISTS dead_letters(grp TEXT NOT NULL, id INTEGER NOT NULL, topic TEXT NOT NULL,
                        offset INTEGER NOT NULL, cause INTEGER NOT NULL, attempts INTEGER NOT NULL, last_error TEXT NOT NULL,
                        at_us INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY(grp, id));
                    CREATE TABLE IF NOT EXISTS cursor_journal(id INTEGER PRIMARY KEY CHECK (id = 1), folded_through INTEGER NOT NULL);
                    """)
        }
        // A requeued dead letter's retry keeps the event: retention may drop it from the log.
        migrator.registerMigration("v2: retry bodies") { db in
            try db.execute(sql: "ALTER TABLE retries ADD COLUMN body BLOB")
        }
        return migrator
    }

    /// Makes the next `count` saves fail with nothing written, as a transiently failing disk
    /// would; 0 ends the failures (for tests).
    func injectSaveFailures(_ count: Int) {
        injectedSaveFailures.store(count, ordering: .relaxed)
    }

    private func takeInjectedFailure() -> Bool {
        var left = injectedSaveFailures.load(ordering: .relaxed)
        while left > 0 {
            let (exchanged, original) = injectedSaveFailures.compareExchange(expected: left, desired: left - 1, ordering: .relaxed)
            if exchanged { return true }
            left = original
        }
        return false
    }

    /// Injected failures not yet taken by a save (for tests).
    var injectedSaveFailuresLeft: Int { injectedSaveFailures.load(ordering: .relaxed) }

    /// Closes the database's connections (after the last save).
    func close() { try? pool.close() }

    static func storageError(_ error: any Error, _ operation: String) -> StorageError {
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_FULL {
            return StorageError(.full, "\(operation): the disk is full")
        }
        return StorageError(.io, "\(operation): \(error)")
    }

    /// Saves several change sets, in order, in one transaction; with `journalSequence`, also
    /// records that the ``CursorJournal``'s records up to that sequence are folded in.
    func save(_ batch: [GroupStateChanges], journalSequence: UInt64? = nil) throws(StorageError) {
        if takeInjectedFailure() { throw StorageError(.io, "saving group state: an injected failure") }
        do {
            try pool.write { db in
                for changes in batch { try Self.apply(changes, to: db) }
                if let journalSequence {
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO cursor_journal(id, folded_through) VALUES (1, ?)").execute(
                        arguments: [Int64(bitPattern: journalSequence)])
                }
            }
        } catch {
            throw Self.storageError(error, "saving group state")
        }
    }

    /// Cached statements: a save runs every few milliseconds, so its SQL is parsed once.
    private static func apply(_ changes: GroupStateChanges, to db: Database) throws {
        for group in changes.groups {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO groups(name, patterns, policy, start_latest) VALUES (?, ?, ?, ?)").execute(
                arguments: [group.name, group.patterns.joined(separator: "\n"), group.policy, group.startAtLatest])
        }
        for cursor in changes.cursors {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO cursors(grp, topic, next, in_flight) VALUES (?, ?, ?, ?)").execute(
                arguments: [cursor.group, cursor.topic, Int64(bitPattern: cursor.next), Self.encode(cursor.inFlight)])
        }
        for change in changes.retryChanges {
            switch change {
            case .removed(let retry):
                try db.cachedStatement(sql: "DELETE FROM retries WHERE grp = ? AND topic = ? AND offset = ? AND tracks = ?").execute(
                    arguments: [retry.group, retry.topic, Int64(bitPattern: retry.offset), retry.origin == .cursor])
            case .added(let retry):
                try db.cachedStatement(
                    sql: """
                        INSERT OR REPLACE INTO retries(grp, topic, offset, tracks, attempt, due_us, last_error, key, body)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(
                    arguments: [
                        retry.group, retry.topic, Int64(bitPattern: retry.offset), retry.origin == .cursor, Int64(retry.attempt),
                        retry.dueMicros, retry.lastError, retry.key, retry.body.map { Data($0) },
                    ])
            }
        }
    }

    /// The sequence of the last ``CursorJournal`` record folded into the database (0: none).
    func foldedJournalSequence() throws(StorageError) -> UInt64 {
        do {
            let sequence = try pool.read { db in try Int64.fetchOne(db, sql: "SELECT folded_through FROM cursor_journal WHERE id = 1") }
            return UInt64(bitPattern: sequence ?? 0)
        } catch {
            throw Self.storageError(error, "reading the cursor journal's position")
        }
    }

    func load() throws(StorageError) -> GroupStateSnapshot {
        do {
            return try pool.read { db in
                var snapshot = GroupStateSnapshot()
                for row in try Row.fetchAll(db, sql: "SELECT * FROM groups") {
                    let patterns: String = row["patterns"]
                    snapshot.groups.append(
                        GroupDefinition(
                            name: row["name"], patterns: patterns.split(separator: "\n").map(String.init), policy: row["policy"],
                            startAtLatest: row["start_latest"]))
                }
                for row in try Row.fetchAll(db, sql: "SELECT * FROM cursors") {
                    let next: Int64 = row["next"]
                    let inFlight: Data = row["in_flight"]
                    snapshot.cursors.append(
                        CursorState(group: row["grp"], topic: row["topic"], next: UInt64(bitPattern: next), inFlight: Self.decode(inFlight))
                    )
                }
                for row in try Row.fetchAll(db, sql: "SELECT * FROM retries") {
                    let offset: Int64 = row["offset"]
                    let attempt: Int64 = row["attempt"]
                    let body: Data? = row["body"]
                    snapshot.retries.append(
                        RetryState(
                            group: row["grp"], topic: row["topic"], offset: UInt64(bitPattern: offset), origin: (row["tracks"] as Bool) ? .cursor : .requeuedDeadLetter,
                            attempt: UInt32(attempt), dueMicros: row["due_us"], lastError: row["last_error"], key: row["key"],
                            body: body.map { Array($0) }))
                }
                return snapshot
            }
        } catch {
            throw Self.storageError(error, "loading group state")
        }
    }

    // MARK: - Dead letters

    /// Adds dead letters in one transaction synced to disk (`synchronous = FULL` for it): the
    /// cursor that then settles an event may be saved to the cursor journal, and a power loss
    /// could keep that record and lose WAL frames not yet synced. The broker gathers a save
    /// interval's dead letters into one call, so a storm of them costs one sync per interval.
    /// Each entry's `removingRetry` row goes in the same transaction.
    func addDeadLetters(_ entries: [(record: DeadLetterRecord, removingRetry: RetryID?)]) throws(StorageError) -> [UInt64] {
        do {
            return try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
                var ids: [UInt64] = []
                try db.inTransaction {
                    var retries = GroupStateChanges()
                    for (record, retry) in entries {
                        // Ids are never reused, even after a purge: a per-group counter in the same transaction.
                        let last =
                            try Int64.fetchOne(db, sql: "SELECT last_id FROM dead_letter_ids WHERE grp = ?", arguments: [record.group])
                            ?? 0
                        let id = last + 1
                        try db.execute(
                            sql: "INSERT OR REPLACE INTO dead_letter_ids(grp, last_id) VALUES (?, ?)", arguments: [record.group, id])
                        try db.execute(
                            sql: """
                                INSERT INTO dead_letters(grp, id, topic, offset, cause, attempts, last_error, at_us, body)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                                """,
                            arguments: [
                                record.group, id, record.topic, Int64(bitPattern: record.offset), Int64(record.cause.rawValue),
                                Int64(record.attempts),
                                record.lastError, record.deadLetteredAtMicros, Data(record.body),
                            ])
                        ids.append(UInt64(id))
                        if let retry { retries.removeRetry(retry) }
                    }
                    try Self.apply(retries, to: db)
                    return .commit
                }
                return ids
            }
        } catch {
            throw Self.storageError(error, "adding dead letters")
        }
    }

    func deadLetters(group: String, after afterID: UInt64, limit: Int) -> [DeadLetterRecord] {
        (try? pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM dead_letters WHERE grp = ? AND id > ? ORDER BY id LIMIT ?",
                arguments: [group, Int64(bitPattern: afterID), limit]
            ).map(Self.deadLetter)
        }) ?? []
    }

    func deadLetteredOffsets(group: String, topic: String) -> Set<UInt64> {
        let offsets = try? pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT offset FROM dead_letters WHERE grp = ? AND topic = ?", arguments: [group, topic])
        }
        return Set((offsets ?? []).map { UInt64(bitPattern: $0) })
    }

    func deadLetterBodies(group: String, topic: String, offset: UInt64) -> [[UInt8]] {
        let bodies = try? pool.read { db in
            try Data.fetchAll(
                db, sql: "SELECT body FROM dead_letters WHERE grp = ? AND topic = ? AND offset = ?",
                arguments: [group, topic, Int64(bitPattern: offset)])
        }
        return (bodies ?? []).map { Array($0) }
    }

    func deadLetterCount(group: String) -> Int {
        (try? pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dead_letters WHERE grp = ?", arguments: [group]) ?? 0 })
            ?? 0
    }

    func removeDeadLetters(group: String, ids: [UInt64]?) throws(StorageError) -> [DeadLetterRecord] {
        try removeDeadLetters(group: group, ids: ids) { _ in nil }
    }

    /// The ids of `group`'s oldest `limit` dead letters.
    func deadLetterIDs(group: String, limit: Int) -> [UInt64] {
        let ids = try? pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM dead_letters WHERE grp = ? ORDER BY id LIMIT ?", arguments: [group, limit])
        }
        return (ids ?? []).map { UInt64(bitPattern: $0) }
    }

    /// Removes dead letters and saves, in the same transaction, the retry `retry` makes of each
    /// (nil: none).
    func removeDeadLetters(
        group: String, ids: [UInt64]?, requeueingAs retry: (DeadLetterRecord) -> RetryState?
    ) throws(StorageError) -> [DeadLetterRecord] {
        do {
            return try pool.write { db in
                var removed: [DeadLetterRecord] = []
                if let ids {
                    // One prepared statement each, a few microseconds per id; an id named twice
                    // or not in the queue costs one index look-up.
                    let select = try db.cachedStatement(sql: "SELECT * FROM dead_letters WHERE grp = ? AND id = ?")
                    let delete = try db.cachedStatement(sql: "DELETE FROM dead_letters WHERE grp = ? AND id = ?")
                    var seen = Set<UInt64>()
                    // In id order, whatever order they were named in: oldest first, as listed.
                    for id in ids.sorted() where seen.insert(id).inserted {
                        let arguments: StatementArguments = [group, Int64(bitPattern: id)]
                        guard let row = try Row.fetchOne(select, arguments: arguments) else { continue }
                        removed.append(Self.deadLetter(row))
                        try delete.execute(arguments: arguments)
                    }
                } else {
                    removed = try Row.fetchAll(db, sql: "SELECT * FROM dead_letters WHERE grp = ? ORDER BY id", arguments: [group])
                        .map(Self.deadLetter)
                    try db.execute(sql: "DELETE FROM dead_letters WHERE grp = ?", arguments: [group])
                }
                var changes = GroupStateChanges()
                for record in removed { if let requeued = retry(record) { changes.addRetry(requeued) } }
                try Self.apply(changes, to: db)
                return removed
            }
        } catch {
            throw Self.storageError(error, "removing dead letters")
        }
    }

    private static func deadLetter(_ row: Row) -> DeadLetterRecord {
        let id: Int64 = row["id"]
        let offset: Int64 = row["offset"]
        let cause: Int64 = row["cause"]
        let attempts: Int64 = row["attempts"]
        let body: Data = row["body"]
        return DeadLetterRecord(
            id: UInt64(id), group: row["grp"], topic: row["topic"], offset: UInt64(bitPattern: offset),
            cause: DeadLetterCause(rawValue: UInt8(cause)) ?? .maxAttempts, attempts: UInt32(attempts), lastError: row["last_error"],
            deadLetteredAtMicros: row["at_us"], body: Array(body))
    }

    // MARK: - In-flight encoding: (u64 offset, u32 attempt) little-endian pairs

    static func encode(_ pending: [PendingOffset]) -> Data {
        var data = Data(capacity: pending.count * 12)
        for entry in pending {
            withUnsafeBytes(of: entry.offset.littleEndian) { data.append(contentsOf: $0) }
            withUnsafeBytes(of: entry.attempt.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    static func decode(_ data: Data) -> [PendingOffset] {
        let bytes = [UInt8](data)
        var pending: [PendingOffset] = []
        var index = 0
        while index + 12 <= bytes.count {
            let offset = bytes[index..<(index + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            let attempt = bytes[(index + 8)..<(index + 12)].enumerated().reduce(UInt32(0)) {
                $0 | UInt32($1.element) << (8 * UInt32($1.offset))
            }
            pending.append(PendingOffset(offset: offset, attempt: attempt))
            index += 12
        }
        return pending
    }
}
