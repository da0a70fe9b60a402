import Foundation
import GRDB
import OrderSystemKit

/// A notification for a user, as stored and listed.
struct UserNotification: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "notifications"

    var eventID: String
    var userID: String
    var orderID: String
    var kind: String
    var message: String
    /// When the event happened (ISO 8601, UTC).
    var createdAt: String

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case userID = "user_id"
        case orderID = "order_id"
        case kind, message
        case createdAt = "created_at"
    }
}

/// An order as the notification-worker knows it: whose it is and what it cost, from
/// OrderCreated, for events that do not name the user.
struct KnownOrder: Sendable {
    var userID: String
    var totalCents: Int64?
    var currency: String
}

/// The notification-worker's SQLite database (`notifications.sqlite`): the notifications,
/// one per event (INSERT OR IGNORE on the event id, so a redelivery adds nothing), and the
/// orders it has seen.
struct NotificationStore: Sendable {
    let pool: DatabasePool

    init(path: String) throws {
        pool = try StateDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1") { db in
                try db.create(table: "notifications") { table in
                    table.primaryKey("event_id", .text)
                    table.column("user_id", .text).notNull().indexed()
                    table.column("order_id", .text).notNull()
                    table.column("kind", .text).notNull()
                    table.column("message", .text).notNull()
                    table.column("created_at", .text).notNull()
                }
                try db.create(table: "orders") { table in
                    table.primaryKey("order_id", .text)
                    table.column("user_id", .text).notNull()
                    table.column("total_cents", .integer)
                    table.column("currency", .text).notNull().defaults(to: "")
                }
            }
        }
    }

    /// Remembers whose order `orderID` is; a total (from OrderCreated) replaces an unknown one.
    func recordOrder(_ orderID: String, userID: String, totalCents: Int64? = nil, currency: String = "") throws {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO orders (order_id, user_id, total_cents, currency) VALUES (?, ?, ?, ?)
                    ON CONFLICT(order_id) DO UPDATE SET
                        total_cents = coalesce(excluded.total_cents, total_cents),
                        currency = CASE WHEN excluded.currency = '' THEN currency ELSE excluded.currency END
                    """, arguments: [orderID, userID, totalCents, currency])
        }
    }

    func order(_ orderID: String) throws -> KnownOrder? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT user_id, total_cents, currency FROM orders WHERE order_id = ?", arguments: [orderID]).map {
                KnownOrder(userID: $0["user_id"], totalCents: $0["total_cents"], currency: $0["currency"])
            }
        }
    }

    /// Stores `notification` unless its event's notification is already there; true if new.
    @discardableResult
    func add(_ notification: UserNotification) throws -> Bool {
        try pool.write { db in
            try notification.insert(db, onConflict: .ignore)
            return db.changesCount > 0
        }
    }

    /// Notifications in the order their events happened, of one user or everyone.
    func list(user: String?) throws -> [UserNotification] {
        try pool.read { db in
            var request = UserNotification.order(Column("created_at"), Column("event_id"))
            if let user { request = request.filter(Column("user_id") == user) }
            return try request.fetchAll(db)
        }
    }
}
