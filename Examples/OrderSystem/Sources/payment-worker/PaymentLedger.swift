import Foundation
import GRDB
import OrderSystemKit

/// Payments in SQLite, one per order. The ledger remembers every decision, so a redelivered
/// `OrderCreated` never charges twice and a redelivered `OrderCancelled` never refunds twice.
struct PaymentLedger: Sendable {
    enum Status: String, Codable, Sendable, DatabaseValueConvertible {
        case charged, refunded
        /// Cancelled before the charge: never charge it.
        case voided
    }

    struct Payment: Codable, Sendable, FetchableRecord, PersistableRecord {
        static let databaseTableName = "payments"
        var orderID: String
        var paymentID: String
        var amountCents: Int64
        var currency: String
        var method: String
        var status: Status
        var updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case orderID = "order_id"
            case paymentID = "payment_id"
            case amountCents = "amount_cents"
            case currency, method, status
            case updatedAt = "updated_at"
        }
    }

    let database: DatabasePool

    init(path: String) throws {
        database = try StateDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1") { db in
                try db.create(table: "payments") { table in
                    table.primaryKey("order_id", .text)
                    table.column("payment_id", .text).notNull().unique()
                    table.column("amount_cents", .integer).notNull()
                    table.column("currency", .text).notNull()
                    table.column("method", .text).notNull()
                    table.column("status", .text).notNull()
                    table.column("updated_at", .datetime).notNull()
                }
            }
        }
    }

    /// Charges an order once; returns the payment, or nil if the order was cancelled first.
    func charge(orderID: String, amountCents: Int64, currency: String, method: String) async throws -> Payment? {
        try await database.write { db in
            if let existing = try Payment.fetchOne(db, key: orderID) {
                return existing.status == .voided ? nil : existing
            }
            let payment = Payment(
                orderID: orderID, paymentID: "pay_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased(),
                amountCents: amountCents, currency: currency, method: method, status: .charged, updatedAt: Date())
            try payment.insert(db)
            return payment
        }
    }

    /// Refunds an order's payment once; returns it, or nil when nothing was charged (then a
    /// later `OrderCreated` for the order is not charged either).
    func refund(orderID: String, currency: String) async throws -> Payment? {
        try await database.write { db in
            guard var payment = try Payment.fetchOne(db, key: orderID) else {
                try Payment(
                    orderID: orderID, paymentID: "void_\(orderID)", amountCents: 0, currency: currency, method: "none", status: .voided,
                    updatedAt: Date()
                ).insert(db)
                return nil
            }
            switch payment.status {
            case .voided: return nil
            case .refunded: return payment
            case .charged:
                payment.status = .refunded
                payment.updatedAt = Date()
                try payment.update(db)
                return payment
            }
        }
    }

    func payments() throws -> [Payment] {
        try database.read { db in try Payment.order(Column("updated_at")).fetchAll(db) }
    }
}
