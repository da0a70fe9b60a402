import Ferry
import Foundation
import OrderEvents
import OrderSystemKit

/// The demo's customers: they place orders over HTTP, confirm, ship and cancel some, and
/// browse (UserAction events published straight to ferryd, as a front end would).
struct DemoTraffic: Sendable {
    let client: OrdersClient
    let bus: EventBus
    let say: @Sendable (String) -> Void

    static let catalogue: [(product: String, priceCents: Int64)] = [
        ("sku-1", 1999), ("sku-2", 4950), ("sku-3", 899), ("sku-4", 12000), ("sku-5", 350),
    ]

    /// A placed order: its id and its customer.
    struct Placed: Sendable {
        let id: String
        let userID: String
        let wantsScarceItem: Bool
    }

    /// Places `count` orders. Every fifth asks for two of `sku-limited`, of which inventory holds
    /// three: the first such order gets them, the others start the compensating saga.
    func placeOrders(_ count: Int) async throws -> [Placed] {
        say("\n== placing \(count) orders over HTTP (every 5th wants 2 × sku-limited, of which 3 are in stock)")
        var placed: [Placed] = []
        var generator = SystemRandomNumberGenerator()
        for index in 0..<count {
            let userID = index == 3 ? DemoLayout.bouncingUser : "user-\(index % 6)"
            var items = (0..<(1 + index % 3)).map { offset in
                let entry = Self.catalogue[(index + offset) % Self.catalogue.count]
                return LineItem(productId: entry.product, quantity: Int.random(in: 1...3, using: &generator), priceCents: entry.priceCents)
            }
            let scarce = index % 5 == 4
            if scarce { items.append(LineItem(productId: "sku-limited", quantity: 2, priceCents: 2500)) }
            let reply = try await client.createOrder(userID: userID, items: items)
            guard reply.status == 201, let id = reply.orderID else {
                say("   POST /api/orders → \(reply.status) \(reply.text)")
                continue
            }
            let total = formatCents(reply.json["totalCents"] as? Int64 ?? Int64(reply.json["totalCents"] as? Int ?? 0))
            say(
                "   201 \(id)  \(userID.padding(toLength: 12, withPad: " ", startingAt: 0)) \(items.count) item(s)  \(total)\(scarce ? "  (+ sku-limited)" : "")"
            )
            placed.append(Placed(id: id, userID: userID, wantsScarceItem: scarce))
        }
        // Bad requests get clear errors.
        let invalid = try await client.createOrder(userID: "user-1", items: [LineItem(productId: "sku-1", quantity: 0, priceCents: 100)])
        say("   invalid order (quantity 0) → \(invalid.status) \(invalid.text)")
        return placed
    }

    /// Confirms the orders still pending, ships every other one, and has one customer cancel.
    func moveOrders(_ placed: [Placed]) async throws {
        say("\n== confirming, shipping and cancelling")
        var confirmed: [Placed] = []
        // The last customer whose order the saga keeps (no scarce item) never confirms: the
        // payment reminder scheduled for that order goes out (the others' are cancelled by their
        // confirmation or cancellation).
        let unconfirmed = placed.last { !$0.wantsScarceItem }
        for order in placed where order.id != unconfirmed?.id {
            let reply = try await client.confirm(order.id)
            if reply.status == 200 {
                confirmed.append(order)
            } else {
                say(
                    "   confirm \(order.id) → \(reply.status) \(reply.errorCode ?? ""): \((reply.json["error"] as? [String: Any])?["message"] ?? "")"
                )
            }
        }
        say("   confirmed \(confirmed.count) orders")
        if let unconfirmed {
            say("   \(unconfirmed.id) stays unconfirmed: its payment reminder is due \(DemoLayout.paymentReminderAfter) after it was placed")
        }
        var shipped = 0
        for (index, order) in confirmed.enumerated() where index % 2 == 0 {
            let reply = try await client.ship(order.id, trackingNumber: "1Z\(String(format: "%06d", 100_000 + index))")
            if reply.status == 200 { shipped += 1 }
        }
        say("   shipped \(shipped) orders")
        if let customerCancel = confirmed.dropFirst().first(where: { _ in true }) {
            let reply = try await client.cancel(customerCancel.id, reason: "customer changed their mind")
            say("   customer cancelled \(customerCancel.id) → \(reply.status)")
        }
        if let shippedOrder = confirmed.first {
            let reply = try await client.cancel(shippedOrder.id, reason: "too late")
            say("   cancel a shipped order \(shippedOrder.id) → \(reply.status) \(reply.errorCode ?? "")")
        }
    }

    /// Publishes `count` UserAction events in batches, as a front end would.
    func sendUserActions(_ count: Int) async throws {
        let actions = ["page_view", "page_view", "page_view", "add_to_cart", "search", "remove_from_cart"]
        var events: [UserAction] = []
        for index in 0..<count {
            events.append(
                UserAction.with {
                    $0.userID = "user-\(index % 6)"
                    $0.action = actions[index % actions.count]
                    $0.metadata = ["page": "/products/sku-\(1 + index % 5)"]
                    $0.occurredAt = .now
                })
        }
        for chunk in stride(from: 0, to: events.count, by: 100) {
            try await bus.publish(batch: Array(events[chunk..<min(chunk + 100, events.count)]))
        }
        say("\n== published \(count) UserAction events (the analytics group takes them in batches)")
    }
}
