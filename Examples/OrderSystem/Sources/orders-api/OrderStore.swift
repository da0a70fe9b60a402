import Foundation
import GRDB
import OrderEvents
import OrderSystemKit

/// The orders database: orders and the transactional outbox, changed together in one
/// transaction so every committed change has its events, and no event exists without its change.
struct OrderStore: Sendable {
    let database: DatabasePool

    init(path: String) throws {
        database = try StateDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1") { db in
                try db.create(table: "orders") { table in
                    table.primaryKey("id", .text)
                    table.column("user_id", .text).notNull().indexed()
                    table.column("status", .text).notNull()
                    table.column("items", .text).notNull()
                    table.column("total_cents", .integer).notNull()
                    table.column("currency", .text).notNull()
                    table.column("tracking_number", .text)
                    table.column("cancel_reason", .text)
                    table.column("created_at", .datetime).notNull()
                    table.column("updated_at", .datetime).notNull()
                }
                try db.create(table: "outbox") { table in
                    table.autoIncrementedPrimaryKey("seq")
                    table.column("event_id", .text).notNull().unique()
                    table.column("topic", .text).notNull()
                    table.column("type", .text).notNull()
                    table.column("schema_version", .integer).notNull()
                    table.column("key", .text).notNull()
                    table.column("payload", .blob).notNull()
                    table.column("correlation_id", .text)
                    table.column("causation_id", .text)
                    table.column("created_at", .datetime).notNull()
                    table.column("published_at", .datetime)
                }
                try db.create(index: "outbox_pending", on: "outbox", columns: ["published_at", "seq"])
            }
        }
    }

    func order(id: String) async throws -> Order? {
        try await database.read { db in try Order.fetchOne(db, key: id) }
    }

    /// Stores a new order and its `OrderCreated` (plus a `UserAction`) in one transaction.
    func create(userID: String, items: [LineItem], currency: String) async throws -> Order {
        let now = Date()
        let order = Order(
            id: "ord_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased(), userID: userID,
            status: .pending,
            items: items, totalCents: items.reduce(0) { $0 + Int64($1.quantity) * $1.priceCents }, currency: currency, createdAt: now,
            updatedAt: now)
        let created = OrderCreated.with {
            $0.orderID = order.id
            $0.userID = userID
            $0.items = items.map(\.orderItem)
            $0.totalCents = order.totalCents
            $0.currency = currency
            $0.createdAt = Google_Protobuf_Timestamp(date: now)
        }
        let createdEntry = try OutboxEntry(created)
        let action = try OutboxEntry(
            userAction(order, "order_placed"), cause: .init(eventID: createdEntry.eventID, correlationID: createdEntry.eventID))
        try await database.write { db in
            try order.insert(db)
            for var entry in [createdEntry, action] { try entry.insert(db) }
        }
        return order
    }

    /// A change of an order's state, with the events it causes.
    enum Change: Sendable {
        case confirm
        case ship(trackingNumber: String)
        case cancel(reason: String)
    }

    /// Applies `change` and writes its events to the outbox, atomically. Throws 404 for an
    /// unknown order and 409 for a move its state does not allow.
    func apply(_ change: Change, to orderID: String, cause: OutboxEntry.Cause? = nil) async throws -> Order {
        try await database.write { db in
            guard var order = try Order.fetchOne(db, key: orderID) else { throw APIError.notFound(orderID) }
            let now = Date()
            var events: [OutboxEntry] = []
            let id = { (type: String) in cause.map { "\($0.eventID)/\(type)" } ?? UUID().uuidString }
            switch change {
            case .confirm:
                guard order.status == .pending else {
                    throw APIError.conflict("order \(orderID) is \(order.status.rawValue); only a pending order can be confirmed")
                }
                order.status = .confirmed
                events.append(
                    try OutboxEntry(
                        OrderConfirmed.with {
                            $0.orderID = orderID
                            $0.userID = order.userID
                            $0.confirmedAt = Google_Protobuf_Timestamp(date: now)
                        }, id: id("OrderConfirmed"), cause: cause))
            case .ship(let trackingNumber):
                guard order.status == .confirmed else {
                    throw APIError.conflict("order \(orderID) is \(order.status.rawValue); only a confirmed order can be shipped")
                }
                order.status = .shipped
                order.trackingNumber = trackingNumber
                events.append(
                    try OutboxEntry(
                        OrderShipped.with {
                            $0.orderID = orderID
                            $0.userID = order.userID
                            $0.trackingNumber = trackingNumber
                            $0.shippedAt = Google_Protobuf_Timestamp(date: now)
                        }, id: id("OrderShipped"), cause: cause))
            case .cancel(let reason):
                guard order.status == .pending || order.status == .confirmed else {
                    throw APIError.conflict(
                        "order \(orderID) is \(order.status.rawValue); only a pending or confirmed order can be cancelled")
                }
                order.status = .cancelled
                order.cancelReason = reason
                events.append(
                    try OutboxEntry(
                        OrderCancelled.with {
                            $0.orderID = orderID
                            $0.userID = order.userID
                            $0.reason = reason
                            $0.cancelledAt = Google_Protobuf_Timestamp(date: now)
                        }, id: id("OrderCancelled"), cause: cause))
            }
            order.updatedAt = now
            let chain = cause ?? OutboxEntry.Cause(eventID: events[0].eventID, correlationID: events[0].eventID)
            events.append(try OutboxEntry(userAction(order, "order_\(order.status.rawValue)"), id: id("UserAction"), cause: chain))
            try order.update(db)
            for var event in events { try event.insert(db) }
            return order
        }
    }

    /// The oldest events not yet published, in the order they were written.
    func pendingOutbox(limit: Int) async throws -> [OutboxEntry] {
        try await database.read { db in
            try OutboxEntry.filter(Column("published_at") == nil).order(Column("seq")).limit(limit).fetchAll(db)
        }
    }

    /// How many committed events wait for the relay.
    func unpublishedCount() async throws -> Int {
        try await database.read { db in try OutboxEntry.filter(Column("published_at") == nil).fetchCount(db) }
    }

    func markPublished(_ entries: [OutboxEntry]) async throws {
        let sequence = entries.compactMap(\.seq)
        try await database.write { db in
            try OutboxEntry.filter(sequence.contains(Column("seq"))).updateAll(db, Column("published_at").set(to: Date()))
        }
    }

    /// Forgets published outbox rows older than `age`.
    func prunePublished(olderThan age: TimeInterval) async throws {
        let cutoff = Date().addingTimeInterval(-age)
        _ = try await database.write { db in try OutboxEntry.filter(Column("published_at") < cutoff).deleteAll(db) }
    }

    private func userAction(_ order: Order, _ action: String) -> UserAction {
        UserAction.with {
            $0.userID = order.userID
            $0.action = action
            $0.metadata = ["orderId": order.id, "totalCents": String(order.totalCents), "currency": order.currency]
            $0.occurredAt = .now
        }
    }
}
