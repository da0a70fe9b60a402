import Foundation
import GRDB
import OrderSystemKit

/// Stock and reservations in SQLite. Every decision about an order is recorded with it, so a
/// redelivered event finds the decision already made and never reserves (or releases) twice.
struct InventoryStore: Sendable {
    /// What became of an order's reservation.
    enum Status: String, Codable, Sendable, DatabaseValueConvertible {
        case reserved, failed, released
        /// The order was cancelled before its `OrderCreated` arrived: never reserve for it.
        case cancelledEarly = "cancelled_early"
    }

    struct Reservation: Codable, Sendable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "reservations"
        var orderID: String
        var status: Status
        var items: [LineItem]
        var reason: String?
        var updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case orderID = "order_id"
            case status, items, reason
            case updatedAt = "updated_at"
        }
    }

    struct StockLevel: Codable, Sendable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "stock"
        var productID: String
        var available: Int
        var reserved: Int

        enum CodingKeys: String, CodingKey {
            case productID = "product_id"
            case available, reserved
        }
    }

    /// The outcome of handling `OrderCreated`.
    enum ReserveOutcome: Sendable {
        case reserved([LineItem])
        case failed(reason: String, missing: [LineItem])
        case skipped
    }

    let database: DatabasePool

    init(path: String, seed: [String: Int]) throws {
        database = try StateDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1") { db in
                try db.create(table: "stock") { table in
                    table.primaryKey("product_id", .text)
                    table.column("available", .integer).notNull()
                    table.column("reserved", .integer).notNull().defaults(to: 0)
                }
                try db.create(table: "reservations") { table in
                    table.primaryKey("order_id", .text)
                    table.column("status", .text).notNull()
                    table.column("items", .text).notNull()
                    table.column("reason", .text)
                    table.column("updated_at", .datetime).notNull()
                }
            }
        }
        try database.write { db in
            guard try StockLevel.fetchCount(db) == 0 else { return }
            for (product, quantity) in seed { try StockLevel(productID: product, available: quantity, reserved: 0).insert(db) }
        }
    }

    /// Reserves every line of an order, or none of them.
    func reserve(orderID: String, items: [LineItem]) async throws -> ReserveOutcome {
        try await database.write { db in
            if let existing = try Reservation.fetchOne(db, key: orderID) {
                switch existing.status {
                case .reserved, .released: return .reserved(existing.items)
                case .failed: return .failed(reason: existing.reason ?? "", missing: existing.items)
                case .cancelledEarly: return .skipped
                }
            }
            let wanted = Dictionary(items.map { ($0.productId, $0.quantity) }, uniquingKeysWith: +)
            var missing: [LineItem] = []
            var shortages: [ReservationFailure.Shortage] = []
            for (product, quantity) in wanted.sorted(by: { $0.key < $1.key }) {
                let available = try StockLevel.fetchOne(db, key: product)?.available
                if let available, available >= quantity { continue }
                missing.append(LineItem(productId: product, quantity: quantity, priceCents: 0))
                shortages.append(.init(productID: product, asked: quantity, available: available))
            }
            if !missing.isEmpty {
                let reason = ReservationFailure.reason(shortages, of: wanted.count)
                try Reservation(orderID: orderID, status: .failed, items: missing, reason: reason, updatedAt: Date()).insert(db)
                return .failed(reason: reason, missing: missing)
            }
            for (product, quantity) in wanted {
                try db.execute(
                    sql: "UPDATE stock SET available = available - ?, reserved = reserved + ? WHERE product_id = ?",
                    arguments: [quantity, quantity, product])
            }
            try Reservation(orderID: orderID, status: .reserved, items: items, reason: nil, updatedAt: Date()).insert(db)
            return .reserved(items)
        }
    }

    /// Puts an order's reserved stock back. Returns the released lines, or nil when nothing was
    /// reserved (then a later `OrderCreated` for it is ignored).
    func release(orderID: String) async throws -> [LineItem]? {
        try await database.write { db in
            guard var reservation = try Reservation.fetchOne(db, key: orderID) else {
                try Reservation(
                    orderID: orderID, status: .cancelledEarly, items: [], reason: "cancelled before reservation", updatedAt: Date()
                )
                .insert(db)
                return nil
            }
            switch reservation.status {
            case .released: return reservation.items
            case .failed, .cancelledEarly: return nil
            case .reserved:
                let quantities = Dictionary(reservation.items.map { ($0.productId, $0.quantity) }, uniquingKeysWith: +)
                for (product, quantity) in quantities {
                    try db.execute(
                        sql: "UPDATE stock SET available = available + ?, reserved = reserved - ? WHERE product_id = ?",
                        arguments: [quantity, quantity, product])
                }
                reservation.status = .released
                reservation.updatedAt = Date()
                try reservation.update(db)
                return reservation.items
            }
        }
    }

    func stock() throws -> [StockLevel] {
        try database.read { db in try StockLevel.order(Column("product_id")).fetchAll(db) }
    }

    func reservations() throws -> [Reservation] {
        try database.read { db in try Reservation.order(Column("updated_at")).fetchAll(db) }
    }
}
