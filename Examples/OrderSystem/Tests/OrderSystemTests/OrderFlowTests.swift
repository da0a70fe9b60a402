import Ferry
import FerryTestSupport
import Foundation
import GRDB
import OrderSystemKit
import Testing

/// Orders placed over HTTP flow through every handler group of the real processes.
@Suite("Order system end to end", .serialized)
struct OrderFlowTests {
    static let allWorkers = [
        "inventory-worker", "payment-worker", "fulfillment-worker", "email-worker", "notification-worker", "audit-worker",
        "analytics-worker",
    ]
    static let allGroups = ["orders", "inventory", "payment", "fulfillment", "email", "notifications", "audit", "analytics"]

    @Test("every order's events reach every group that handles them")
    func ordersReachEveryGroup() async throws {
        let system = try await OrderSystemHarness()
        for worker in Self.allWorkers { try system.start(worker) }
        let client = try await system.startAPI()
        try await system.waitForGroups(Self.allGroups)

        var orders: [String] = []
        for index in 0..<4 {
            orders.append(
                try await system.placeOrder(
                    user: "user-\(index)",
                    [
                        LineItem(productId: "sku-1", quantity: 2, priceCents: 1999),
                        LineItem(productId: "sku-2", quantity: 1, priceCents: 500),
                    ]))
        }
        for id in orders { #expect(try await client.confirm(id).status == 200) }
        for id in orders { #expect(try await client.ship(id, trackingNumber: "1Z-\(id)").status == 200) }
        #expect(await system.waitUntilSettled(), "groups did not settle")

        let expected = [
            "OrderCreated", "PaymentProcessed", "InventoryReserved", "OrderReadyForFulfillment", "OrderConfirmed", "OrderShipped",
        ]
        for id in orders {
            let history = try await system.history(id)
            for type in expected { #expect(history.filter { $0 == type }.count == 1, "\(id): \(type) in \(history)") }
            #expect(history.first == "OrderCreated")
            #expect(try await client.order(id).orderStatus == "shipped")
        }
        let count = orders.count
        // What each group acknowledged: exactly the events it handles, none twice.
        let handled: [String: Int] = [
            "inventory": count,  // OrderCreated
            "payment": count,  // OrderCreated
            "fulfillment": 2 * count,  // PaymentProcessed + InventoryReserved
            "email": 2 * count,  // OrderConfirmed + OrderShipped
            "audit": 6 * count,  // every order event above
            "orders": 0,  // no InventoryReservationFailed
        ]
        for (name, acked) in handled {
            let group = try #require(try await system.group(name))
            #expect(group.acked == UInt64(acked), "\(name) acked \(group.acked), expected \(acked)")
            #expect(group.deadLetters == 0)
        }
        // UserAction (placed, confirmed, shipped per order) arrives in batches.
        #expect(try await system.group("analytics")?.acked == UInt64(3 * count))

        // What the workers wrote.
        let outbox = system.directory("email-worker").appendingPathComponent("outbox")
        let emails = try FileManager.default.contentsOfDirectory(atPath: outbox.path).filter { $0.hasSuffix(".eml") }
        #expect(emails.count == 2 * count)
        let audited = try await system.integer("audit-worker", "audit.sqlite", "SELECT COUNT(*) FROM events")
        #expect(audited == 6 * count)
        let reserved = try await system.integer(
            "inventory-worker", "inventory.sqlite", "SELECT reserved FROM stock WHERE product_id = 'sku-1'")
        #expect(reserved == 2 * count)
        let actions = try await system.integer("analytics-worker", "analytics.sqlite", "SELECT SUM(count) FROM action_counts")
        #expect(actions == 3 * count)
        await system.bus.close()
    }

    @Test("when stock cannot be reserved the saga refunds the payment and cancels the order")
    func sagaCompensates() async throws {
        let system = try await OrderSystemHarness()
        for worker in ["inventory-worker", "payment-worker", "fulfillment-worker", "audit-worker"] { try system.start(worker) }
        let client = try await system.startAPI()
        try await system.waitForGroups(["orders", "inventory", "payment", "fulfillment", "audit"])

        // The default catalogue holds 3 × sku-limited: the first order gets two, the second cannot.
        let first = try await system.placeOrder(user: "user-a", [LineItem(productId: "sku-limited", quantity: 2, priceCents: 2500)])
        #expect(await system.waitUntilSettled())
        let second = try await system.placeOrder(
            user: "user-b",
            [LineItem(productId: "sku-1", quantity: 1, priceCents: 100), LineItem(productId: "sku-limited", quantity: 2, priceCents: 2500)])
        let cancelled = await Wait.until(timeout: .seconds(30)) { (try? await client.order(second).orderStatus) == "cancelled" }
        #expect(cancelled, "the saga did not cancel \(second)")
        #expect(await system.waitUntilSettled())

        let reply = try await client.order(second)
        #expect((reply.json["cancelReason"] as? String)?.contains("inventory unavailable") == true)
        let history = try await system.history(second)
        for type in ["OrderCreated", "InventoryReservationFailed", "OrderCancelled"] { #expect(history.contains(type), "\(history)") }
        // Charged then refunded, or (if the cancel overtook the charge) never charged.
        #expect(history.contains("PaymentRefunded") == history.contains("PaymentProcessed"), "\(history)")
        #expect(!history.contains("OrderReadyForFulfillment"))
        if let failed = history.firstIndex(of: "InventoryReservationFailed"), let cancel = history.firstIndex(of: "OrderCancelled") {
            #expect(failed < cancel)
        }
        // The compensation left stock as it was: sku-1 untouched, sku-limited held by the first order only.
        let sql = "SELECT reserved FROM stock WHERE product_id = ?"
        #expect(try await system.integer("inventory-worker", "inventory.sqlite", sql, ["sku-1"]) == 0)
        #expect(try await system.integer("inventory-worker", "inventory.sqlite", sql, ["sku-limited"]) == 2)
        #expect(try await system.history(first).contains("OrderReadyForFulfillment"))
        await system.bus.close()
    }
}
