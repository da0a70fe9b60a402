import FerryTestSupport
import Foundation
import OrderEvents
import OrderSystemKit
import Testing

@Suite("inventory-worker against a real ferryd", .serialized, .timeLimit(.minutes(1)))
struct InventoryWorkerTests {
    @Test("a failed reservation of 100 unknown 6,000-character products publishes a bounded InventoryReservationFailed")
    func failureEventIsBounded() async throws {
        let harness = try await WorkerHarness()
        let worker = try await harness.start("inventory-worker", group: "inventory")
        // Published straight to ferryd, past the API's bounds: about 600 KB of product ids. Listed
        // whole, the failure (ids in its reason and in its missing items) would be 1.2 MB.
        let items = (0..<100).map { index in
            OrderItem.with {
                $0.productID = String(format: "%03d-", index) + String(repeating: "x", count: 6_000)
                $0.quantity = 1
                $0.priceCents = 100
            }
        }
        try await harness.bus.publish(
            OrderCreated.with {
                $0.orderID = "o-huge"
                $0.userID = "u1"
                $0.items = items
                $0.totalCents = 10_000
            }, id: "created-huge")

        let published = await Wait.until(timeout: .seconds(30)) {
            (try? await harness.bus.history(key: "o-huge"))?.contains { $0.event.typeName == "InventoryReservationFailed" } == true
        }
        #expect(published, "InventoryReservationFailed was never published")
        #expect(await harness.waitUntilAcked("inventory", 1))
        let stored = try #require(try await harness.bus.history(key: "o-huge").first { $0.event.typeName == "InventoryReservationFailed" })
        #expect(stored.event.payload.count < 16_384, "\(stored.event.payload.count) bytes")
        let failure = try InventoryReservationFailed(jsonUTF8Data: stored.event.payload)
        #expect(failure.orderID == "o-huge")
        #expect(failure.missingItems.count == OrderLimits.maxListedMissingItems)
        #expect(failure.missingItems.allSatisfy { $0.productID.utf8.count <= OrderLimits.maxProductIDBytes })
        #expect(failure.reason.utf8.count <= OrderLimits.maxReasonBytes)
        #expect(failure.reason.hasPrefix("insufficient stock for 100 of 100 products: 000-"), "\(failure.reason)")
        #expect(failure.reason.contains("more"), "\(failure.reason)")
        let summary = try await harness.bus.groups().first { $0.name == "inventory" }
        #expect(summary?.deadLetters == 0)
        // The full list stays in the worker's own records.
        #expect(try harness.count("inventory.sqlite", "SELECT json_array_length(items) FROM reservations WHERE order_id = 'o-huge'") == 100)
        withExtendedLifetime(worker) {}
        await harness.close()
    }
}
