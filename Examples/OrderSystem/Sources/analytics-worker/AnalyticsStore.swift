import Foundation
import GRDB
import OrderEvents
import OrderSystemKit

/// The aggregates `report` prints.
struct AnalyticsReport: Codable, Sendable {
    struct ActionCount: Codable, Sendable {
        var bucketHour: String
        var action: String
        var count: Int
    }
    struct UserCount: Codable, Sendable {
        var userID: String
        var action: String
        var count: Int
    }
    struct Batch: Codable, Sendable {
        var id: Int
        var size: Int
        var counted: Int
        var handledAt: String
    }

    var actionCounts: [ActionCount]
    var userCounts: [UserCount]
    var batches: [Batch]
    /// Distinct events counted.
    var eventsCounted: Int
}

/// The analytics-worker's aggregates (`analytics.sqlite`). A batch is recorded in one write
/// transaction: events already in `seen` are skipped, so a redelivered batch never counts twice.
struct AnalyticsStore: Sendable {
    let pool: DatabasePool

    init(path: String) throws {
        pool = try StateDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE seen (event_id TEXT PRIMARY KEY NOT NULL);
                        CREATE TABLE action_counts (
                            bucket_hour TEXT NOT NULL, action TEXT NOT NULL, count INTEGER NOT NULL,
                            PRIMARY KEY (bucket_hour, action));
                        CREATE TABLE user_counts (
                            user_id TEXT NOT NULL, action TEXT NOT NULL, count INTEGER NOT NULL,
                            PRIMARY KEY (user_id, action));
                        CREATE TABLE batches (
                            id INTEGER PRIMARY KEY, size INTEGER NOT NULL, counted INTEGER NOT NULL, handled_at TEXT NOT NULL);
                        """)
            }
        }
    }

    /// The hour an action belongs to, e.g. `2026-11-27T12:00Z`: when it occurred, or when it
    /// was published if it carries no time.
    static func bucketHour(_ action: UserAction, publishedAt: Date) -> String {
        let date = action.hasOccurredAt ? action.occurredAt.date : publishedAt
        return ConsoleOutput.timestamp(date).prefix(13) + ":00Z"
    }

    /// Counts the batch's new events; returns how many were new.
    @discardableResult
    func record(_ actions: [UserAction], received: [ReceivedEvent]) throws -> Int {
        try pool.write { db in
            var counted = 0
            for (action, event) in zip(actions, received) {
                try db.execute(sql: "INSERT OR IGNORE INTO seen (event_id) VALUES (?)", arguments: [event.id])
                guard db.changesCount > 0 else { continue }
                counted += 1
                try db.execute(
                    sql: """
                        INSERT INTO action_counts (bucket_hour, action, count) VALUES (?, ?, 1)
                        ON CONFLICT(bucket_hour, action) DO UPDATE SET count = count + 1
                        """, arguments: [Self.bucketHour(action, publishedAt: event.createdAt), action.action])
                try db.execute(
                    sql: """
                        INSERT INTO user_counts (user_id, action, count) VALUES (?, ?, 1)
                        ON CONFLICT(user_id, action) DO UPDATE SET count = count + 1
                        """, arguments: [action.userID, action.action])
            }
            try db.execute(
                sql: "INSERT INTO batches (size, counted, handled_at) VALUES (?, ?, ?)",
                arguments: [actions.count, counted, ConsoleOutput.timestamp(Date())])
            return counted
        }
    }

    func report() throws -> AnalyticsReport {
        try pool.read { db in
            AnalyticsReport(
                actionCounts: try Row.fetchAll(db, sql: "SELECT * FROM action_counts ORDER BY bucket_hour, action").map {
                    .init(bucketHour: $0["bucket_hour"], action: $0["action"], count: $0["count"])
                },
                userCounts: try Row.fetchAll(db, sql: "SELECT * FROM user_counts ORDER BY user_id, action").map {
                    .init(userID: $0["user_id"], action: $0["action"], count: $0["count"])
                },
                batches: try Row.fetchAll(db, sql: "SELECT * FROM batches ORDER BY id").map {
                    .init(id: $0["id"], size: $0["size"], counted: $0["counted"], handledAt: $0["handled_at"])
                },
                eventsCounted: try Int.fetchOne(db, sql: "SELECT count(*) FROM seen") ?? 0)
        }
    }
}
