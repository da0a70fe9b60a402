import FerryTestSupport
import Foundation
import OrderEvents
import Testing

@Suite("audit-worker against a real ferryd", .serialized, .timeLimit(.minutes(1)))
struct AuditWorkerTests {
    struct Stored: Decodable, Equatable {
        var eventId: String
        var topic: String
        var offset: Int
        var type: String
        var schemaVersion: Int
        var key: String?
        var correlationId: String?
        var causationId: String?
        var createdAt: String
        var storedAt: String
        var headers: String
        var payload: String
    }

    @Test("every order event is stored once with its envelope; show lists an order's events; replay --reset rebuilds the store")
    func auditTrail() async throws {
        let harness = try await WorkerHarness()
        let worker = try await harness.start("audit-worker", group: "audit")
        let bus = harness.bus
        try await bus.publish(
            OrderCreated.with {
                $0.orderID = "o-1"
                $0.userID = "u1"
                $0.totalCents = 700
            }, id: "c-1", headers: ["source": "test"])
        try await bus.publish(
            PaymentProcessed.with {
                $0.orderID = "o-1"
                $0.paymentID = "p-1"
            }, id: "p-1")
        try await bus.publish(InventoryReserved.with { $0.orderID = "o-1" }, id: "r-1")
        try await bus.publish(
            OrderCreated.with {
                $0.orderID = "o-2"
                $0.userID = "u2"
            }, id: "c-2")
        try await bus.publish(
            UserAction.with {
                $0.userID = "u1"
                $0.action = "view"
            }, id: "not-an-order-event")

        #expect(await harness.waitUntilAcked("audit", 4))
        #expect(try harness.count("audit.sqlite", "SELECT count(*) FROM events") == 4)
        let shown = try await harness.runJSON("audit-worker", ["show", "o-1"], as: [Stored].self)
        #expect(shown.map(\.eventId) == ["c-1", "p-1", "r-1"])
        let created = try #require(shown.first)
        #expect(created.topic == "OrderCreated" && created.type == "OrderCreated" && created.offset == 0 && created.schemaVersion == Int(OrderCreated.schemaVersion))
        #expect(created.key == "o-1" && created.correlationId == "c-1" && created.causationId == nil)
        #expect(created.headers.contains("\"source\":\"test\""))
        #expect(created.payload.contains("\"orderId\":\"o-1\""))

        let output = try await harness.runCommand("audit-worker", ["replay", "--reset"], broker: true) { $0.contains("OrderCreated") }
        #expect(output.contains("removed 4 events"))
        #expect(await harness.waitUntilAcked("audit", 8))
        #expect(try harness.count("audit.sqlite", "SELECT count(*) FROM events") == 4)
        #expect(try await harness.runJSON("audit-worker", ["show", "o-1"], as: [Stored].self) == shown)
        withExtendedLifetime(worker) {}
        await harness.close()
    }
}
