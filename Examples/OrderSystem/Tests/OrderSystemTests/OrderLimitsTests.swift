import Ferry
import FerryTestSupport
import Foundation
import GRDB
import OrderSystemKit
import Testing

/// Every field of an order is bounded by what its events can carry: orders-api refuses more
/// with 400 naming the field (413 for a body over the limit), and accepts the bounds exactly.
@Suite("orders-api field limits")
struct OrderLimitsTests {
    static let item = LineItem(productId: "sku-1", quantity: 1, priceCents: 100)

    @Test("each field over its bound gets 400 naming it; a body over the limit gets 413")
    func fieldsAreBounded() async throws {
        let system = try await OrderSystemHarness()
        let client = try await system.startAPI()
        let long = { (count: Int) in String(repeating: "x", count: count) }

        let refused: [(OrdersClient.Reply, String)] = [
            (try await client.createOrder(userID: long(1_100), items: [Self.item]), "userId"),
            (try await client.createOrder(userID: long(129), items: [Self.item]), "userId"),
            (try await client.createOrder(userID: String(repeating: "€", count: 43), items: [Self.item]), "userId"),  // 129 bytes
            (try await client.createOrder(userID: "u\u{7}", items: [Self.item]), "userId"),
            (
                try await client.createOrder(userID: "u", items: [LineItem(productId: long(129), quantity: 1, priceCents: 1)]),
                "items[0].productId"
            ),
            (try await client.createOrder(userID: "u", items: Array(repeating: Self.item, count: 101)), "items"),
            (
                try await client.createOrder(userID: "u", items: [LineItem(productId: "p", quantity: 10_001, priceCents: 1)]),
                "items[0].quantity"
            ),
            (
                try await client.createOrder(
                    userID: "u", items: [Self.item, LineItem(productId: "p", quantity: 1, priceCents: 100_000_001)]),
                "items[1].priceCents"
            ),
            (try await client.createOrder(userID: "u", items: [Self.item], currency: "US"), "currency"),
            (try await client.createOrder(userID: "u", items: [Self.item], currency: "USDX"), "currency"),
            (try await client.createOrder(userID: "u", items: [Self.item], currency: "U1D"), "currency"),
            (
                try await client.createOrder(
                    userID: "u", items: (0..<100).map { LineItem(productId: "p\($0)-" + long(200), quantity: 1, priceCents: 1) }),
                "items[0].productId"
            ),
        ]
        for (reply, field) in refused {
            #expect(reply.status == 400, "\(field): \(reply.status) \(reply.text.prefix(300))")
            #expect(reply.errorCode == "validation_failed")
            #expect(reply.text.contains(field), "\(reply.text.prefix(300)) should name \(field)")
        }

        // Too large to read at all: a ~1 MiB user id, 100 product ids of 11,000 characters.
        let oversized = [
            try await client.createOrder(userID: long(1 << 20), items: [Self.item]),
            try await client.createOrder(
                userID: "u", items: (0..<100).map { LineItem(productId: "p\($0)-" + long(11_000), quantity: 1, priceCents: 1) }),
        ]
        for reply in oversized {
            #expect(reply.status == 413, "\(reply.status) \(reply.text.prefix(300))")
            #expect(reply.errorCode == "body_too_large")
        }

        // The bounds themselves are accepted.
        let largest = (0..<OrderLimits.maxItems).map {
            LineItem(
                productId: String("p\($0)-" + long(OrderLimits.maxProductIDBytes)).prefix(OrderLimits.maxProductIDBytes).description,
                quantity: 10_000, priceCents: 100_000_000)
        }
        let accepted = try await client.createOrder(userID: long(OrderLimits.maxUserIDBytes), items: largest, currency: "eur")
        #expect(accepted.status == 201, "\(accepted.status) \(accepted.text.prefix(300))")
        #expect(accepted.json["currency"] as? String == "EUR")
        let id = try #require(accepted.orderID)

        #expect(try await client.confirm(id).status == 200)
        for (tracking, status) in [(long(65), 400), (long(1 << 20), 413), (" ", 400)] {
            let reply = try await client.ship(id, trackingNumber: tracking)
            #expect(reply.status == status, "\(reply.status) \(reply.text.prefix(300))")
            if status == 400 { #expect(reply.text.contains("trackingNumber")) }
        }
        let reason = try await client.cancel(id, reason: long(OrderLimits.maxReasonBytes + 1))
        #expect(reason.status == 400 && reason.text.contains("reason"), "\(reason.status) \(reason.text.prefix(300))")
        #expect(try await client.ship(id, trackingNumber: long(OrderLimits.maxTrackingNumberBytes)).status == 200)
        await system.bus.close()
    }

    @Test("the largest order the API accepts, every product unknown, is charged, then cancelled and refunded")
    func largestFailingOrderIsCompensated() async throws {
        let system = try await OrderSystemHarness()
        try system.start("payment-worker")
        let client = try await system.startAPI()
        try await system.waitForGroups(["orders", "payment"])

        let items = (0..<OrderLimits.maxItems).map { index in
            LineItem(
                productId: String(repeating: "\(index % 10)", count: OrderLimits.maxProductIDBytes - 4) + String(format: "%04d", index),
                quantity: Int(OrderLimits.quantity.upperBound), priceCents: OrderLimits.priceCents.upperBound)
        }
        let order = try await system.placeOrder(user: String(repeating: "u", count: OrderLimits.maxUserIDBytes), items)
        // Charged first, so the saga has a payment to refund.
        #expect(await Wait.until(timeout: .seconds(30)) { (try? await system.history(order))?.contains("PaymentProcessed") == true })

        try system.start("inventory-worker")
        let cancelled = await Wait.until(timeout: .seconds(60)) { (try? await client.order(order).orderStatus) == "cancelled" }
        #expect(cancelled, "the saga did not cancel \(order)")
        let refunded = await Wait.until(timeout: .seconds(30)) { (try? await system.history(order))?.contains("PaymentRefunded") == true }
        let history = (try? await system.history(order)) ?? []
        #expect(refunded, "\(history)")
        #expect(await system.waitUntilSettled())

        let reason = try #require(try await client.order(order).json["cancelReason"] as? String)
        #expect(reason.hasPrefix("inventory unavailable: insufficient stock for 100 of 100 products"), "\(reason)")
        #expect(reason.utf8.count <= OrderLimits.maxReasonBytes)
        let status = try await system.integer(
            "payment-worker", "payments.sqlite", "SELECT status = 'refunded' FROM payments WHERE order_id = ?", [order])
        #expect(status == 1)
        let failure = try #require(try await system.bus.history(key: order).first { $0.event.typeName == "InventoryReservationFailed" })
        #expect(failure.event.payload.count < 16_384, "InventoryReservationFailed is \(failure.event.payload.count) bytes")
        for group in ["orders", "inventory", "payment"] { #expect(try await system.group(group)?.deadLetters == 0, "\(group)") }
        await system.bus.close()
    }
}
