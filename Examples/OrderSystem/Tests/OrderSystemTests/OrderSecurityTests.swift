import Ferry
import FerryTestSupport
import Foundation
import OrderEvents
import OrderSystemKit
import Testing

/// The order system as the demo runs it: ferryd serves CURVE with the demo's credentials
/// (``OrderSystemIdentity``), each process is its own principal with only the grants it needs.
@Suite("Order system secured: one identity per process, only its grants", .serialized)
struct OrderSecurityTests {
    @Test("every process runs as its own identity, the orders flow, and each event names its publisher")
    func securedFlow() async throws {
        let system = try await OrderSystemHarness(secured: true)
        for worker in OrderFlowTests.allWorkers { try system.start(worker) }
        let client = try await system.startAPI()
        try await system.waitForGroups(OrderFlowTests.allGroups)

        let order = try await system.placeOrder(user: "user-1", [LineItem(productId: "sku-1", quantity: 1, priceCents: 1999)])
        // The saga too: sku-limited holds 3, so the second order for two cannot be reserved.
        _ = try await system.placeOrder(user: "user-2", [LineItem(productId: "sku-limited", quantity: 2, priceCents: 2500)])
        #expect(await system.waitUntilSettled(), "groups did not settle")
        let compensated = try await system.placeOrder(user: "user-3", [LineItem(productId: "sku-limited", quantity: 2, priceCents: 2500)])
        #expect(await system.waitUntilSettled(), "groups did not settle")
        #expect(try await client.confirm(order).status == 200)
        #expect(try await client.ship(order, trackingNumber: "1Z-secure").status == 200)
        // The storefront's own grant: users' actions, published straight to ferryd.
        let keys = try #require(system.keys)
        let storefront = try EventBus(
            configuration: keys.clientConfiguration(endpoint: system.ferryd.endpoint, clientName: "test-storefront", as: "storefront"))
        _ = try await storefront.publish(
            UserAction.with {
                $0.userID = "user-1"
                $0.action = "page_view"
            })
        await storefront.close()
        #expect(await system.waitUntilSettled(), "groups did not settle")

        // ferryd stamps every event with the principal that published it: each type comes from its process.
        let publisherOf = [
            "OrderCreated": "orders-api", "OrderConfirmed": "orders-api", "OrderShipped": "orders-api", "OrderCancelled": "orders-api",
            "PaymentProcessed": "payment-worker", "PaymentRefunded": "payment-worker", "InventoryReserved": "inventory-worker",
            "InventoryReservationFailed": "inventory-worker", "InventoryReleased": "inventory-worker",
            "OrderReadyForFulfillment": "fulfillment-worker",
        ]
        for id in [order, compensated] {
            let events = try await client.events(id).json["events"] as? [[String: Any]] ?? []
            #expect(!events.isEmpty, "no history for \(id) (orders-api may read history)")
            for event in events {
                let type = event["type"] as? String ?? "?"
                #expect(
                    event["publishedBy"] as? String == publisherOf[type], "\(id): \(type) published by \(event["publishedBy"] ?? "nobody")")
            }
        }
        let history = try await client.eventTypes(order)
        let expected = [
            "OrderCreated", "PaymentProcessed", "InventoryReserved", "OrderReadyForFulfillment", "OrderConfirmed", "OrderShipped",
        ]
        for type in expected { #expect(history.contains(type), "\(history)") }
        #expect(try await client.order(compensated).orderStatus == "cancelled")
        #expect(try await client.eventTypes(compensated).contains("InventoryReservationFailed"))
        // Every group did its part, and nothing was refused into a dead-letter queue.
        for name in OrderFlowTests.allGroups {
            let group = try #require(try await system.group(name))
            #expect(group.deadLetters == 0, "\(name) dead-lettered \(group.deadLetters)")
        }
        #expect(try await system.group("email")?.acked == 2)
        #expect(try await system.group("analytics")?.acked ?? 0 >= 4)
        let emails = try FileManager.default.contentsOfDirectory(
            atPath: system.directory("email-worker").appendingPathComponent("outbox").path
        ).filter { $0.hasSuffix(".eml") }
        #expect(emails.count == 2)
        #expect(await client.deadOutbox() == 0)
        await system.bus.close()
    }

    @Test("the email worker's identity cannot publish a payment, nor act outside its group; it can consume its own")
    func emailIdentityIsConfined() async throws {
        let system = try await OrderSystemHarness(secured: true)
        let keys = try #require(system.keys)
        let endpoint = system.ferryd.endpoint
        let email = try EventBus(configuration: keys.clientConfiguration(endpoint: endpoint, clientName: "test-email", as: "email-worker"))
        let payment = PaymentProcessed.with {
            $0.orderID = "ord-forged"
            $0.paymentID = "pay-forged"
            $0.amountCents = 100
        }

        // The demo's refused action: a payment published with the email worker's key.
        let refusal = await #expect(throws: FerryError.self) { try await email.publish(payment) }
        #expect(refusal?.code.name == "FORBIDDEN")
        #expect(refusal?.message == "principal 'email-worker' may not publish to 'PaymentProcessed'")
        for event in [
            OutgoingTopic(PaymentRefunded.self), OutgoingTopic(OrderConfirmed.self), OutgoingTopic(OrderReadyForFulfillment.self),
        ] {
            #expect(await code { try await event.send(email) } == "FORBIDDEN", "email-worker published \(event.topic)")
        }
        // Nor may it read or steer anything else.
        #expect(await code { _ = try await email.tail([PaymentProcessed.topic]) } == "FORBIDDEN")
        #expect(await code { _ = try await email.stats() } == "FORBIDDEN")
        #expect(await code { _ = try await email.history(key: "ord-forged") } == "FORBIDDEN")
        #expect(await code { _ = try await email.deadLetters(group: "email") } == "FORBIDDEN")
        #expect(await code { _ = try await email.replay(group: "payment", from: .beginning) } == "FORBIDDEN")
        // A worker with its key cannot join the payment group…
        let intruder = Worker(
            name: "intruder", configuration: try keys.clientConfiguration(endpoint: endpoint, clientName: "intruder", as: "email-worker"))
        intruder.group("payment") { group in group.on(PaymentProcessed.self) { _, _ in } }
        #expect(await code { try await intruder.run() } == "FORBIDDEN")

        // …but joins its own group and gets the confirmations orders-api publishes.
        let received = Received()
        let worker = Worker(
            name: "email", configuration: try keys.clientConfiguration(endpoint: endpoint, clientName: "email", as: "email-worker"))
        worker.group("email") { group in
            group.on(OrderConfirmed.self) { confirmed, _ in received.append(confirmed.orderID) }
        }
        let running = Task { try await worker.run() }
        try await system.waitForGroups(["email"])
        let api = try EventBus(configuration: keys.clientConfiguration(endpoint: endpoint, clientName: "test-api", as: "orders-api"))
        _ = try await api.publish(OrderConfirmed.with { $0.orderID = "ord-1" })
        #expect(await Wait.until(timeout: .seconds(15)) { received.items == ["ord-1"] }, "got \(received.items)")
        worker.stop()
        try await running.value
        // And the payment worker's identity may publish the payment the email worker may not.
        let payments = try EventBus(
            configuration: keys.clientConfiguration(endpoint: endpoint, clientName: "test-payment", as: "payment-worker"))
        #expect(try await payments.publish(payment).topic == PaymentProcessed.topic)
        for bus in [email, api, payments, system.bus] { await bus.close() }
    }

    @Test("a worker started with another identity's key is refused its group and exits")
    func workerWithAnotherIdentityExits() async throws {
        let system = try await OrderSystemHarness(secured: true)
        let process = try system.start("payment-worker", identity: "email-worker")
        let status = await process.waitForExit(timeout: .seconds(20))
        #expect(status != nil && status != 0, "payment-worker running as email-worker: \(String(describing: status))")
        #expect(try await system.group("payment")?.members ?? 0 == 0)
        await system.bus.close()
    }

    @Test("a process given half its keys exits at once, before connecting")
    func halfTheKeysFail() async throws {
        let system = try await OrderSystemHarness(secured: true)
        let keys = try #require(system.keys)
        let process = try ManagedProcess(
            product: "audit-worker",
            arguments: [
                "run", "--broker", system.ferryd.endpoint, "--data-dir", system.directory("audit").path,
                "--client-key-file", keys.files(of: "audit-worker").secretFile, "--exit-with-parent",
            ])
        let status = await process.waitForExit(timeout: .seconds(20))
        #expect(status != nil && status != 0)
        await system.bus.close()
    }

    /// The code of the FerryError `body` throws (nil when it throws none).
    private func code(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let error as FerryError {
            return error.code.name
        } catch {
            return "\(error)"
        }
    }
}

/// An empty event of a type, to publish to its topic.
private struct OutgoingTopic: Sendable {
    let topic: String
    let send: @Sendable (EventBus) async throws -> Void

    init<E: ProtobufEvent & Sendable>(_ type: E.Type) {
        topic = E.topic
        send = { bus in _ = try await bus.publish(E()) }
    }
}

/// What a handler received, read by the test.
private final class Received: @unchecked Sendable {
    // @unchecked: `list` is only touched under `lock`.
    private let lock = NSLock()
    private var list: [String] = []

    func append(_ item: String) { lock.withLock { list.append(item) } }
    var items: [String] { lock.withLock { list } }
}
