import Foundation
import GRDB

/// Scheduled events in SQLite (WAL, `synchronous = FULL`): a commit that returned survives a
/// power cut, so an event is confirmed as scheduled only after the transaction that stored it.
///
/// Events are indexed by (due time, sequence), the order they are handed over in: only those
/// due are read, a batch at a time, so memory does not grow with the number scheduled. Used by
/// the ``Scheduler``'s thread only.
public final class ScheduleDatabase: Sendable {
    private let queue: DatabaseQueue

    /// Opens (or creates) the schedule at `path`; nil keeps it in memory, for a broker whose
    /// events are in memory too.
    public init(path: String?) throws(StorageError) {
        do {
            if let path {
                var configuration = Configuration()
                configuration.journalMode = .wal
                queue = try DatabaseQueue(path: path, configuration: configuration)
                try queue.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA synchronous = FULL")
                    guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 else {
                        throw StorageError(.io, "SQLite refused synchronous = FULL for \(path)")
                    }
                }
            } else {
                queue = try DatabaseQueue()
            }
            try Self.migrator.migrate(queue)
        } catch {
            throw Self.storageError(error, "opening the schedule at \(path ?? "memory")")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE scheduled(seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, event_id TEXT NOT NULL,
                        key TEXT NOT NULL, due_us INTEGER NOT NULL, body BLOB NOT NULL, UNIQUE(topic, event_id));
                    CREATE INDEX scheduled_due ON scheduled(due_us, seq);
                    """)
        }
        return migrator
    }

    /// Stores `events` in one transaction, in order. An event whose topic and id are scheduled
    /// already (earlier, or earlier in `events`) is not stored again: its outcome is
    /// ``ScheduleOutcome/duplicate(dueMicros:)``. Returns the outcomes and the stored events
    /// with their sequences.
    public func schedule(_ events: [ScheduledEvent], limits: ScheduleLimits, holding current: (events: Int, bytes: Int))
        throws(StorageError) -> (outcomes: [ScheduleOutcome], stored: [ScheduledEvent])
    {
        do {
            return try queue.write { db in
                var outcomes: [ScheduleOutcome] = []
                var stored: [ScheduledEvent] = []
                var count = current.events
                var bytes = current.bytes
                let existing = try db.makeStatement(sql: "SELECT due_us FROM scheduled WHERE topic = ? AND event_id = ?")
                let insert = try db.makeStatement(
                    sql: "INSERT INTO scheduled(topic, event_id, key, due_us, body) VALUES (?, ?, ?, ?, ?)")
                for event in events {
                    if let due = try Int64.fetchOne(existing, arguments: [event.topic, event.id]) {
                        outcomes.append(.duplicate(dueMicros: due))
                        continue
                    }
                    if count + 1 > limits.maxEvents || bytes + event.body.count > limits.maxBytes {
                        outcomes.append(
                            .refused(
                                StorageError(
                                    .full,
                                    "the schedule holds \(count) events of \(bytes) bytes; its limits are \(limits.maxEvents) events and \(limits.maxBytes) bytes"
                                )))
                        continue
                    }
                    try insert.execute(arguments: [event.topic, event.id, event.key, event.dueMicros, Data(event.body)])
                    var copy = event
                    copy.sequence = db.lastInsertedRowID
                    stored.append(copy)
                    outcomes.append(.scheduled(dueMicros: event.dueMicros))
                    count += 1
                    bytes += event.body.count
                }
                return (outcomes, stored)
            }
        } catch {
            throw Self.storageError(error, "scheduling \(events.count) events")
        }
    }

    /// Removes the event with this topic and id if it comes after `handedOver` and is not
    /// `outstanding` (handed over, not yet reported appended); says why not otherwise.
    public func cancel(topic: String, id: String, after handedOver: SchedulePosition, outstanding: (Int64) -> Bool)
        throws(StorageError) -> (CancelOutcome, ScheduledEvent?)
    {
        do {
            return try queue.write { db in
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT seq, due_us, length(body) AS size FROM scheduled WHERE topic = ? AND event_id = ?",
                        arguments: [topic, id])
                else { return (.notScheduled, nil) }
                let position = SchedulePosition(dueMicros: row["due_us"], sequence: row["seq"])
                if position <= handedOver || outstanding(position.sequence) {
                    return (.alreadyDue(dueMicros: position.dueMicros), nil)
                }
                try db.execute(sql: "DELETE FROM scheduled WHERE seq = ?", arguments: [position.sequence])
                let size: Int = row["size"]
                let removed = ScheduledEvent(
                    sequence: position.sequence, topic: topic, id: id, key: "", dueMicros: position.dueMicros,
                    body: [UInt8](repeating: 0, count: size))
                return (.cancelled(dueMicros: position.dueMicros), removed)
            }
        } catch {
            throw Self.storageError(error, "cancelling '\(id)' on '\(topic)'")
        }
    }

    /// Removes events that were appended to their topics; returns each removed one's topic and size.
    public func remove(_ sequences: [Int64]) throws(StorageError) -> [(topic: String, bytes: Int)] {
        guard !sequences.isEmpty else { return [] }
        do {
            return try queue.write { db in
                var removed: [(String, Int)] = []
                let select = try db.makeStatement(sql: "SELECT topic, length(body) FROM scheduled WHERE seq = ?")
                let delete = try db.makeStatement(sql: "DELETE FROM scheduled WHERE seq = ?")
                for sequence in sequences {
                    guard let row = try Row.fetchOne(select, arguments: [sequence]) else { continue }
                    removed.append((row[0], row[1]))
                    try delete.execute(arguments: [sequence])
                }
                return removed
            }
        } catch {
            throw Self.storageError(error, "removing \(sequences.count) appended events")
        }
    }

    /// Events after `position` due at or before `time`, in order, at most `limit`.
    public func due(after position: SchedulePosition, through time: Int64, limit: Int) throws(StorageError) -> [ScheduledEvent] {
        do {
            return try queue.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT seq, topic, event_id, key, due_us, body FROM scheduled
                        WHERE (due_us, seq) > (?, ?) AND due_us <= ? ORDER BY due_us, seq LIMIT ?
                        """,
                    arguments: [position.dueMicros, position.sequence, time, limit]
                ).map { row in
                    let body: Data = row["body"]
                    return ScheduledEvent(
                        sequence: row["seq"], topic: row["topic"], id: row["event_id"], key: row["key"], dueMicros: row["due_us"],
                        body: [UInt8](body))
                }
            }
        } catch {
            throw Self.storageError(error, "reading due events")
        }
    }

    /// The topic, id and due time of the first `limit` events due by `time`, in due order.
    public func overdue(through time: Int64, limit: Int) throws(StorageError) -> [(topic: String, id: String, dueMicros: Int64)] {
        do {
            return try queue.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT topic, event_id, due_us FROM scheduled WHERE due_us <= ? ORDER BY due_us, seq LIMIT ?",
                    arguments: [time, limit]
                ).map { ($0[0], $0[1], $0[2]) }
            }
        } catch {
            throw Self.storageError(error, "reading overdue events")
        }
    }

    /// The earliest due time after `position`.
    public func nextDue(after position: SchedulePosition) throws(StorageError) -> Int64? {
        do {
            return try queue.read { db in
                try Int64.fetchOne(
                    db, sql: "SELECT due_us FROM scheduled WHERE (due_us, seq) > (?, ?) ORDER BY due_us, seq LIMIT 1",
                    arguments: [position.dueMicros, position.sequence])
            }
        } catch {
            throw Self.storageError(error, "reading the next due time")
        }
    }

    /// Counts and bytes per topic, read once at start (the ``Scheduler`` keeps them up to date).
    public func summary() throws(StorageError) -> ScheduleSummary {
        do {
            return try queue.read { db in
                var summary = ScheduleSummary()
                for row in try Row.fetchAll(db, sql: "SELECT topic, COUNT(*), TOTAL(length(body)) FROM scheduled GROUP BY topic") {
                    let count: Int = row[1]
                    let bytes: Double = row[2]
                    summary.byTopic[row[0]] = count
                    summary.events += count
                    summary.bytes += Int(bytes)
                }
                summary.nextDueMicros = try Int64.fetchOne(db, sql: "SELECT MIN(due_us) FROM scheduled")
                return summary
            }
        } catch {
            throw Self.storageError(error, "summing up the schedule")
        }
    }

    private static func storageError(_ error: any Error, _ doing: String) -> StorageError {
        if let error = error as? StorageError { return error }
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_FULL {
            return StorageError(.full, "\(doing): the disk is full")
        }
        return StorageError(.io, "\(doing): \(error)")
    }
}
