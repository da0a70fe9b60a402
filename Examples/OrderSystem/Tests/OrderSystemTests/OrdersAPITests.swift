import Ferry
import FerryTestSupport
import Foundation
import OrderSystemKit
import Testing

/// orders-api's answers to good and bad requests.
@Suite("orders-api")
struct OrdersAPITests {
    @Test("validation, unknown orders and forbidden moves get clear errors")
    func errors() async throws {
        let system = try await OrderSystemHarness()
        let client = try await system.startAPI()

        let valid = [LineItem(productId: "sku-1", quantity: 1, priceCents: 100)]
        let cases: [(OrdersClient.Reply, String)] = [
            (try await client.createOrder(userID: nil, items: valid), "userId"),
            (try await client.createOrder(userID: " ", items: valid), "userId"),
            (try await client.createOrder(userID: "u", items: []), "items"),
            (try await client.createOrder(userID: "u", items: nil), "items"),
            (try await client.createOrder(userID: "u", items: [LineItem(productId: "p", quantity: 0, priceCents: 1)]), "quantity"),
            (try await client.createOrder(userID: "u", items: [LineItem(productId: "p", quantity: -2, priceCents: 1)]), "quantity"),
            (try await client.createOrder(userID: "u", items: [LineItem(productId: "p", quantity: 1, priceCents: 0)]), "priceCents"),
            (try await client.createOrder(userID: "u", items: [LineItem(productId: "", quantity: 1, priceCents: 1)]), "productId"),
            (try await client.send("POST", "/api/orders", raw: Data("{not json".utf8)), "JSON"),
        ]
        for (reply, mentions) in cases {
            #expect(reply.status == 400, "\(reply.text)")
            #expect(reply.errorCode == "validation_failed")
            #expect(reply.text.contains(mentions), "\(reply.text) should mention \(mentions)")
        }

        let created = try await client.createOrder(userID: "user-1", items: [LineItem(productId: "sku-1", quantity: 2, priceCents: 1250)])
        #expect(created.status == 201)
        let id = try #require(created.orderID)
        #expect(created.json["totalCents"] as? Int == 2500)
        #expect(created.orderStatus == "pending")
        #expect(try await client.order(id).orderStatus == "pending")

        #expect(try await client.order("ord_missing").status == 404)
        #expect(try await client.confirm("ord_missing").status == 404)
        #expect(try await client.events("ord_missing").status == 404)

        #expect(try await client.ship(id, trackingNumber: "1Z").status == 409)  // not confirmed yet
        #expect(try await client.confirm(id).status == 200)
        #expect(try await client.confirm(id).status == 409)
        let noTracking = try await client.ship(id, trackingNumber: nil)
        #expect(noTracking.status == 400 && noTracking.text.contains("trackingNumber"))
        let noReason = try await client.cancel(id, reason: nil)
        #expect(noReason.status == 400 && noReason.text.contains("reason"))
        #expect(try await client.cancel(id, reason: "changed my mind").status == 200)
        let shipCancelled = try await client.ship(id, trackingNumber: "1Z")
        #expect(shipCancelled.status == 409)
        #expect(shipCancelled.errorCode == "invalid_state")
        #expect(try await client.cancel(id, reason: "again").status == 409)

        let history = await Wait.until(timeout: .seconds(10)) {
            (try? await client.eventTypes(id)) == ["OrderCreated", "OrderConfirmed", "OrderCancelled"]
        }
        let types = try await client.eventTypes(id)
        #expect(history, "history: \(types)")
        await system.bus.close()
    }
}
