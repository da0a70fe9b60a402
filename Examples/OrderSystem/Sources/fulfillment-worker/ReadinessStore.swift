import Foundation
import GRDB
import OrderSystemKit

/// What the fulfillment worker knows of each order: whether its payment and its stock have
/// arrived (in either order), whether it was cancelled, and whether it was announced ready.
/// It lives in SQLite, so the aggregation survives restarts.
struct ReadinessStore: Sendable {
    struct Readiness: Codable, Sendable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "readiness"
        var orderID: String
        var paymentID: String?
        var paidAt: Date?
        var reservedAt: Date?
        var cancelledAt: Date?
        var announcedAt: Date?

        enum CodingKeys: String, CodingKey {
            case orderID = "order_id"
            case paymentID = "payment_id"
            case paidAt = "paid_at"
            case reservedAt = "reserved_at"
            case cancelledAt = "cancelled_at"
            case announcedAt = "announced_at"
        }

        /// Paid, reserved, not cancelled, and not yet announced.
        var isReadyToAnnounce: Bool { paidAt != nil && reservedAt != nil && cancelledAt == nil && announcedAt == nil }
    }

    /// A fact about an order.
    enum Fact: Sendable {
        case paid(paymentID: String)
        case reserved
        case cancelled
    }

    let database: DatabasePool

    init(path: String) throws {
        database = try StateDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1") { db in
                try db.create(table: "readiness") { table in
                    table.primaryKey("order_id", .text)
                    table.column("payment_id", .text)
                    table.column("paid_at", .datetime)
                    table.column("reserved_at", .datetime)
                    table.column("cancelled_at", .datetime)
                    table.column("announced_at", .datetime)
                }
            }
        }
    }

    /// Records `fact` (recording it twice changes nothing) and returns the order's state.
    func record(_ fact: Fact, orderID: String) async throws -> Readiness {
        try await database.write { db in
            var row = try Readiness.fetchOne(db, key: orderID) ?? Readiness(orderID: orderID)
            let now = Date()
            switch fact {
            case .paid(let paymentID):
                if row.paidAt == nil {
                    row.paidAt = now
                    row.paymentID = paymentID
                }
            case .reserved: row.reservedAt = row.reservedAt ?? now
            case .cancelled: row.cancelledAt = row.cancelledAt ?? now
            }
            try row.save(db)
            return row
        }
    }

    /// Notes that the order was announced ready, after ferryd confirmed the event.
    func markAnnounced(orderID: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE readiness SET announced_at = ? WHERE order_id = ? AND announced_at IS NULL", arguments: [Date(), orderID])
        }
    }

    func all() throws -> [Readiness] {
        try database.read { db in try Readiness.order(Column("order_id")).fetchAll(db) }
    }
}
