import Ferry
import FerryTestSupport
import Foundation
import OrderSystemKit
import Testing

/// `GET /api/orders`: pages in the order orders were placed, a cursor, a status filter.
@Suite("orders-api order list")
struct OrderListTests {
    @Test("pages follow nextAfter to the end; status filters; bad parameters get 400 naming them")
    func listsOrders() async throws {
        let system = try await OrderSystemHarness()
        let client = try await system.startAPI()
        #expect(try await client.listOrders().json["orders"] as? [Any] != nil)

        var placed: [String] = []
        for index in 0..<5 {
            placed.append(try await system.placeOrder(user: "user-\(index)"))
        }
        for id in [placed[1], placed[3]] { #expect(try await client.confirm(id).status == 200) }

        let all = try await client.listOrders()
        #expect(all.status == 200)
        #expect(ids(all) == placed)
        #expect(all.json["nextAfter"] is NSNull, "\(all.text)")

        var paged: [String] = []
        var after: String?
        var pages = 0
        repeat {
            let page = try await client.listOrders(["limit": "2"].merging(after.map { ["after": $0] } ?? [:]) { $1 })
            #expect(page.status == 200, "\(page.text)")
            #expect(ids(page).count <= 2)
            paged += ids(page)
            after = page.json["nextAfter"] as? String
            pages += 1
        } while after != nil && pages < 10
        #expect(paged == placed)
        #expect(pages == 3)

        let confirmed = try await client.listOrders(["status": "confirmed"])
        #expect(ids(confirmed) == [placed[1], placed[3]])
        #expect((confirmed.json["orders"] as? [[String: Any]])?.allSatisfy { $0["status"] as? String == "confirmed" } == true)
        let pendingAfter = try await client.listOrders(["status": "pending", "after": placed[0], "limit": "1"])
        #expect(ids(pendingAfter) == [placed[2]])
        #expect(pendingAfter.json["nextAfter"] as? String == placed[2])

        for (query, field) in [
            (["limit": "0"], "limit"), (["limit": "501"], "limit"), (["limit": "ten"], "limit"), (["status": "lost"], "status"),
            (["after": "ord_missing"], "after"),
        ] {
            let reply = try await client.listOrders(query)
            #expect(reply.status == 400 && reply.errorCode == "validation_failed", "\(query): \(reply.status) \(reply.text)")
            #expect(reply.text.contains(field), "\(reply.text)")
        }
        #expect(try await client.listOrders(["limit": "500"]).status == 200)
        await system.bus.close()
    }

    private func ids(_ reply: OrdersClient.Reply) -> [String] {
        (reply.json["orders"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }
}
