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
            migrator.registerMigration("v2: dead outbox, orders by status") { db in
                // An event ferryd refused for good stays in the outbox, marked dead with
                // ferryd's answer; the `dead_outbox` view shows those rows.
                try db.alter(table: "outbox") { table in
                    table.add(column: "dead_at", .datetime)
                    table.add(column: "error_code", .text)
                    table.add(column: "error_message", .text)
                }
                try db.execute(
                    sql: """
                        CREATE VIEW dead_outbox AS SELECT seq, event_id, topic, type, schema_version, key, payload,
                            correlation_id, causation_id, created_at, error_code, error_message, dead_at
                        FROM outbox WHERE dead_at IS NOT NULL
                        """)
                try db.create(index: "orders_status", on: "orders", columns: ["status"])
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
            $0.taxCents = OrderSystemUpcasters.tax(inTotal: order.totalCents)
            $0.subtotalCents = order.totalCents - $0.taxCents
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

    /// The oldest events not yet published, in the order they were written: at most `limit`,
    /// and no more than `maxBytes` of payload unless the first alone is larger.
    func pendingOutbox(limit: Int, maxBytes: Int) async throws -> [OutboxEntry] {
        let entries = try await database.read { db in
            try OutboxEntry.pending.order(Column("seq")).limit(limit).fetchAll(db)
        }
        var bytes = 0
        let count = entries.prefix { entry in
            defer { bytes += entry.payload.count }
            return bytes == 0 || bytes + entry.payload.count <= maxBytes
        }.count
        return Array(entries.prefix(count))
    }

    /// Marks events ferryd refused for good as dead (with its answer), in one transaction, so
    /// that the events behind them are published; they stay for inspection (`dead_outbox`).
    func park(_ rejected: [(entry: OutboxEntry, code: String, message: String)]) async throws {
        guard !rejected.isEmpty else { return }
        try await database.write { db in
            let now = Date()
            for (entry, code, message) in rejected {
                guard let seq = entry.seq else { continue }
                _ = try OutboxEntry.filter(key: seq).updateAll(
                    db, Column("dead_at").set(to: now), Column("error_code").set(to: code), Column("error_message").set(to: message))
            }
        }
    }

    /// How many events ferryd refused for good (the rows of `dead_outbox`).
    func deadOutboxCount() async throws -> Int {
        try await database.read { db in try OutboxEntry.filter(Column("dead_at") != nil).fetchCount(db) }
    }

    /// Orders in the order they were placed, oldest first: at most `limit` after the order with
    /// id `after` (from the start when nil), only those with `status` when given. Nil when
    /// `after` names no order.
    func orders(after: String?, status: OrderStatus?, limit: Int) async throws -> [Order]? {
        try await database.read { db in
            var request = Order.all()
            if let after {
                guard let rowID = try Int64.fetchOne(db, sql: "SELECT rowid FROM orders WHERE id = ?", arguments: [after]) else {
                    return nil
                }
                request = request.filter(sql: "rowid > ?", arguments: [rowID])
            }
            if let status { request = request.filter(Column("status") == status) }
            return try request.order(sql: "rowid").limit(limit).fetchAll(db)
        }
    }

    /// How many committed events wait for the relay.
    func unpublishedCount() async throws -> Int {
        try await database.read { db in try OutboxEntry.pending.fetchCount(db) }
    }

    func markPublished(_ entries: [OutboxEntry]) async throws {
        let sequence = entries.compactMap(\.seq)
        guard !sequence.isEmpty else { return }
        _ = try await database.write { db in
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
