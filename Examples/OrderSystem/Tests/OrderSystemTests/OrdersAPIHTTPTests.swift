import Ferry
import FerryTestSupport
import Foundation
import OrderSystemKit
import Testing

/// orders-api's HTTP edges: wrong methods, unknown routes, oversized and mistyped bodies, and
/// media types, each answered with a status that says what went wrong and the API's JSON error.
@Suite("orders-api HTTP errors")
struct OrdersAPIHTTPTests {
    @Test("a wrong method gets 405 with Allow, an unknown route 404, both with the JSON error body")
    func methodsAndRoutes() async throws {
        let system = try await OrderSystemHarness()
        let client = try await system.startAPI()

        let delete = try await client.send("DELETE", "/api/orders/x")
        #expect(delete.status == 405, "\(delete.status) \(delete.text)")
        #expect(delete.errorCode == "method_not_allowed", "\(delete.text)")
        #expect(delete.headers["allow"] == "GET, HEAD", "\(delete.headers)")

        let getConfirm = try await client.send("GET", "/api/orders/x/confirm")
        #expect(getConfirm.status == 405, "\(getConfirm.status) \(getConfirm.text)")
        #expect(getConfirm.errorCode == "method_not_allowed")
        #expect(getConfirm.headers["allow"] == "PUT")

        let putList = try await client.send("PUT", "/api/orders", json: [:])
        #expect(putList.status == 405 && putList.headers["allow"] == "GET, HEAD, POST", "\(putList.status) \(putList.headers)")

        for path in ["/api/nothing", "/api/orders/x/y/z", "/"] {
            let reply = try await client.send("GET", path)
            #expect(reply.status == 404, "\(path): \(reply.status)")
            #expect(reply.errorCode == "route_not_found", "\(path): \(reply.text)")
            #expect(reply.errorMessage?.contains(path) == true, "\(reply.text)")
        }
        // An unknown order on a known route stays order_not_found.
        #expect(try await client.order("ord_missing").errorCode == "order_not_found")
        await system.bus.close()
    }

    @Test("bodies: too large → 413, not JSON → 415, overflowing and mistyped fields are named")
    func bodies() async throws {
        let system = try await OrderSystemHarness()
        let client = try await system.startAPI()

        let huge = Data(#"{"userId":""#.utf8) + Data(repeating: UInt8(ascii: "u"), count: 300_000) + Data(#"","items":[]}"#.utf8)
        let tooLarge = try await client.send("POST", "/api/orders", raw: huge)
        #expect(tooLarge.status == 413, "\(tooLarge.status) \(tooLarge.text)")
        #expect(tooLarge.errorCode == "body_too_large")
        #expect(!tooLarge.text.contains("NIO"), "\(tooLarge.text)")

        let overflow = try await client.send(
            "POST", "/api/orders",
            raw: Data(#"{"userId":"u","items":[{"productId":"p","quantity":9223372036854775808,"priceCents":1}]}"#.utf8))
        #expect(overflow.status == 400 && overflow.errorCode == "validation_failed")
        #expect(overflow.text.contains("items[0].quantity") && overflow.text.contains("integer from 1 to 10000"), "\(overflow.text)")
        #expect(!overflow.text.contains("not valid JSON"), "\(overflow.text)")

        let mistyped: [(String, String)] = [
            (#"{"userId":"u","items":[{"productId":"p","quantity":"3","priceCents":1}]}"#, "items[0].quantity must be an integer"),
            (#"{"userId":"u","items":[{"productId":"p","quantity":1.5,"priceCents":1}]}"#, "items[0].quantity must be an integer"),
            (
                #"{"userId":"u","items":[{"productId":"p","quantity":1,"priceCents":-9223372036854775809}]}"#,
                "items[0].priceCents must be an integer"
            ),
            (#"{"userId":5,"items":[]}"#, "userId must be a string"),
            (#"{"userId":"u","items":{}}"#, "items must be an array"),
            (#"{"userId":"u","items":[null]}"#, "items[0] must be an object"),
            (#"{"userId":"u","items":[{"productId":7,"quantity":1,"priceCents":1}]}"#, "items[0].productId must be a string"),
            (#"[1, 2]"#, "the body must be a JSON object"),
            (#"{not json"#, "not valid JSON"),
        ]
        for (body, message) in mistyped {
            let reply = try await client.send("POST", "/api/orders", raw: Data(body.utf8))
            #expect(reply.status == 400 && reply.errorCode == "validation_failed", "\(body): \(reply.status) \(reply.text)")
            #expect(reply.text.contains(message), "\(body): \(reply.text) should say \(message)")
            #expect(!reply.text.contains("Expected to decode"), "\(reply.text)")
        }
        let noBody = try await client.send("POST", "/api/orders")
        #expect(noBody.status == 400 && noBody.text.contains("JSON object"), "\(noBody.status) \(noBody.text)")

        let valid = Data(#"{"userId":"u","items":[{"productId":"p","quantity":1,"priceCents":1}]}"#.utf8)
        for contentType in [nil, "text/plain", "application/x-www-form-urlencoded"] {
            let reply = try await client.send("POST", "/api/orders", raw: valid, contentType: contentType)
            #expect(reply.status == 415, "\(contentType ?? "none"): \(reply.status) \(reply.text)")
            #expect(reply.errorCode == "unsupported_media_type")
        }
        #expect(try await client.send("POST", "/api/orders", raw: valid, contentType: "application/json; charset=utf-8").status == 201)
        let created = try #require(
            try await client.createOrder(userID: "u", items: [LineItem(productId: "p", quantity: 1, priceCents: 1)]).orderID)
        let shipText = try await client.send(
            "PUT", "/api/orders/\(created)/cancel", raw: Data(#"{"reason":"r"}"#.utf8), contentType: "text/plain")
        #expect(shipText.status == 415, "\(shipText.status) \(shipText.text)")
        await system.bus.close()
    }
}
