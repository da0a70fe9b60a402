import Ferry
import FerryTestSupport
import Foundation
import GRDB
import OrderSystemKit
import Testing

/// Faults against the real processes: a killed worker, a failing email sender, an API killed
/// between its commit and its publish.
@Suite("Order system faults", .serialized)
struct OrderFaultTests {
    @Test("kill -9 of an inventory worker mid-stream loses no order and reserves nothing twice")
    func killedWorkerLosesNothing() async throws {
        let system = try await OrderSystemHarness()
        // Two competing members share one database; one dies mid-stream and comes back.
        let stock = ["--stock", "sku-1=100000", "--stock", "sku-2=100000"]
        try system.start("inventory-worker", name: "inventory-a", state: "inventory", stock)
        try system.start("inventory-worker", name: "inventory-b", state: "inventory", stock)
        _ = try await system.startAPI()
        try await system.waitForGroups(["inventory", "orders"])

        var orders: [String] = []
        var ordered = ["sku-1": 0, "sku-2": 0]
        for index in 0..<60 {
            let quantity = 1 + index % 4
            let product = index % 2 == 0 ? "sku-1" : "sku-2"
            orders.append(
                try await system.placeOrder(user: "user-\(index % 7)", [LineItem(productId: product, quantity: quantity, priceCents: 100)]))
            ordered[product, default: 0] += quantity
            if index == 20 {
                // Kill a member once it has started reserving.
                _ = await Wait.until(timeout: .seconds(20)) {
                    ((try? await system.integer("inventory", "inventory.sqlite", "SELECT COUNT(*) FROM reservations")) ?? 0) >= 5
                }
                await system.kill("inventory-a")
            }
            if index == 40 { try system.start("inventory-worker", name: "inventory-a", state: "inventory", stock) }
        }
        #expect(await system.waitUntilSettled(timeout: .seconds(90)), "groups did not settle")

        let database = try system.database("inventory", "inventory.sqlite")
        let reservations = try await database.read { try Row.fetchAll($0, sql: "SELECT order_id, status FROM reservations") }
        #expect(reservations.count == orders.count)
        #expect(reservations.allSatisfy { ($0["status"] as String) == "reserved" })
        for (product, quantity) in ordered {
            let fetched = try await database.read {
                try Row.fetchOne($0, sql: "SELECT available, reserved FROM stock WHERE product_id = ?", arguments: [product])
            }
            let row = try #require(fetched)
            #expect(row["reserved"] as Int == quantity, "\(product) reserved \(row["reserved"] as Int), ordered \(quantity)")
            #expect(row["available"] as Int == 100_000 - quantity)
        }
        for id in orders {
            let history = try await system.history(id)
            #expect(history.filter { $0 == "InventoryReserved" }.count == 1, "\(id): \(history)")
        }
        await system.bus.close()
    }

    @Test("a failing email sender is retried with backoff, ends in the DLQ, and a requeue then succeeds")
    func failingEmailSender() async throws {
        let system = try await OrderSystemHarness()
        let senderDown = system.root.appendingPathComponent("smtp-down")
        FileManager.default.createFile(atPath: senderDown.path, contents: Data())
        try system.start("email-worker", ["--sender-down-file", senderDown.path])
        let client = try await system.startAPI()
        try await system.waitForGroups(["email"])

        let order = try await system.placeOrder(user: "user-mail")
        let confirmedAt = ContinuousClock.now
        #expect(try await client.confirm(order).status == 200)
        let deadLettered = await Wait.until(timeout: .seconds(30)) {
            ((try? await system.bus.deadLetters(group: "email")) ?? []).count == 1
        }
        #expect(deadLettered, "the confirmation email never reached the DLQ")
        let elapsed = ContinuousClock.now - confirmedAt
        let entry = try #require(try await system.bus.deadLetters(group: "email").first)
        #expect(entry.event.typeName == "OrderConfirmed")
        #expect(entry.attempts == 3)
        #expect(entry.reason == .maxAttempts)
        #expect(entry.lastError.contains("down") || entry.lastError.contains("unavailable"), "\(entry.lastError)")
        // Two backoffs (100 ms, then 200 ms, each with at most 20 % jitter) lie between the attempts.
        #expect(elapsed >= .milliseconds(240))
        #expect(try await system.group("email")?.redelivered == 2)
        let outbox = system.directory("email-worker").appendingPathComponent("outbox")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []).filter { $0.hasSuffix(".eml") }.isEmpty)

        // The mail server is back: requeue, and the email goes out.
        try FileManager.default.removeItem(at: senderDown)
        #expect(try await system.bus.requeueDeadLetters(group: "email") == 1)
        let sent = await Wait.until(timeout: .seconds(20)) {
            ((try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []).contains { $0.hasSuffix(".eml") }
        }
        #expect(sent)
        #expect(await system.waitUntilSettled())
        #expect(try await system.bus.deadLetters(group: "email").isEmpty)
        await system.bus.close()
    }

    @Test("an API killed between its commit and its publish still delivers the events")
    func apiKilledBeforePublish() async throws {
        let system = try await OrderSystemHarness()
        try system.start("payment-worker")
        let client = try await system.startAPI(["--hold-outbox"])
        try await system.waitForGroups(["payment"])

        let order = try await system.placeOrder(user: "user-crash", [LineItem(productId: "sku-1", quantity: 3, priceCents: 700)])
        #expect(try await client.confirm(order).status == 200)
        // Committed, answered 201/200, and not published.
        #expect(try await system.history(order).isEmpty)
        await system.kill("orders-api")

        let restarted = try await system.startAPI()
        let delivered = await Wait.until(timeout: .seconds(30)) {
            let history = (try? await system.history(order)) ?? []
            return history.contains("OrderConfirmed") && history.contains("PaymentProcessed")
        }
        #expect(delivered, "the outbox was not published after the restart")
        let history = try await system.history(order)
        #expect(history.filter { $0 == "OrderCreated" }.count == 1)
        #expect(history.filter { $0 == "OrderConfirmed" }.count == 1)
        #expect(history.firstIndex(of: "OrderCreated")! < history.firstIndex(of: "OrderConfirmed")!)
        #expect(try await restarted.order(order).orderStatus == "confirmed")
        #expect(await system.waitUntilSettled())
        #expect(try await system.group("payment")?.acked == 1)
        await system.bus.close()
    }
}
