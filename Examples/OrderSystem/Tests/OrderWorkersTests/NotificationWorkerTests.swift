import FerryTestSupport
import Foundation
import OrderEvents
import Testing

@Suite("notification-worker against a real ferryd", .serialized, .timeLimit(.minutes(1)))
struct NotificationWorkerTests {
    struct Listed: Decodable, Equatable {
        var eventId: String
        var userId: String
        var orderId: String
        var kind: String
        var message: String
        var createdAt: String
    }

    @Test("each order event becomes one notification; a refund before its order retries until the order is known; a replay adds nothing")
    func notifications() async throws {
        let harness = try await WorkerHarness()
        // Patient retries: under load the refund may be retried for seconds before its order arrives.
        let worker = try await harness.start("notification-worker", group: "notifications", ["--max-attempts", "100"])
        let bus = harness.bus
        // The refund arrives before the order it refunds: it must wait for OrderCreated.
        try await bus.publish(
            PaymentRefunded.with {
                $0.orderID = "o-2"
                $0.amountCents = 1999
                $0.currency = "EUR"
            }, id: "refund-2")
        #expect(
            try await Wait.until(timeout: .seconds(10)) {
                try await bus.groups().first { $0.name == "notifications" }?.redelivered ?? 0 > 0
            })
        try await bus.publish(
            OrderCreated.with {
                $0.orderID = "o-1"
                $0.userID = "u1"
                $0.totalCents = 500
                $0.currency = "EUR"
            }, id: "created-1")
        try await bus.publish(
            OrderConfirmed.with {
                $0.orderID = "o-1"
                $0.userID = "u1"
            }, id: "confirmed-1")
        try await bus.publish(
            OrderShipped.with {
                $0.orderID = "o-1"
                $0.userID = "u1"
                $0.trackingNumber = "TRK-1"
            }, id: "shipped-1")
        try await bus.publish(
            OrderCreated.with {
                $0.orderID = "o-2"
                $0.userID = "u2"
                $0.totalCents = 1999
                $0.currency = "EUR"
            }, id: "created-2")
        try await bus.publish(
            OrderCancelled.with {
                $0.orderID = "o-2"
                $0.userID = "u2"
                $0.reason = "out of stock"
            }, id: "cancelled-2")

        #expect(await harness.waitUntilAcked("notifications", 6))
        #expect(try harness.count("notifications.sqlite", "SELECT count(*) FROM notifications") == 6)
        let u2 = try await harness.runJSON("notification-worker", ["list", "--user", "u2"], as: [Listed].self)
        #expect(Set(u2.map(\.kind)) == ["order_placed", "order_cancelled", "payment_refunded"])
        let refund = try #require(u2.first { $0.kind == "payment_refunded" })
        #expect(refund.eventId == "refund-2" && refund.orderId == "o-2")
        #expect(refund.message == "We refunded 19.99 EUR for order o-2.")
        #expect(u2.contains { $0.message == "Your order o-2 was cancelled: out of stock." })
        let all = try await harness.runJSON("notification-worker", ["list"], as: [Listed].self)
        #expect(all.count == 6)
        #expect(all.contains { $0.kind == "order_shipped" && $0.userId == "u1" && $0.message.contains("TRK-1") })

        try await bus.replay(group: "notifications", from: .beginning)
        #expect(await harness.waitUntilAcked("notifications", 12))
        #expect(try await harness.runJSON("notification-worker", ["list"], as: [Listed].self) == all)
        withExtendedLifetime(worker) {}
        await harness.close()
    }
}
