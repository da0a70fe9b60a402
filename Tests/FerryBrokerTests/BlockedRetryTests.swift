import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// A retry that is due while its member has no credit waits without keeping the broker loop
/// busy. Raw DEALER on a thread of its own.
@Suite("A due retry waiting for credit", .serialized, .timeLimit(.minutes(2)))
struct BlockedRetryTests {
    @Test("leaves the broker loop idle until credit comes back, then is delivered")
    func waitsIdle() async throws {
        let ferryd = try await Ferryd()
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            var subscribe = Subscribe()
            subscribe.group = "g"
            subscribe.patterns = ["orders.>"]
            subscribe.maxInFlight = 1
            subscribe.retry.ackTimeoutMs = 60_000
            _ = try client.subscribe(.subscribe(subscribe))
            try client.publish(topic: "orders.created", id: "a")
            try client.publish(topic: "orders.created", id: "b")
            let first = try #require(try Self.next(client))
            #expect(first.event.id == "a")
            // A's retry is due in 100 ms; its credit goes to B at once, which is held.
            var nack = Nack()
            nack.deliveryID = first.deliveryID
            nack.delayMs = 100
            var settle = Settle()
            settle.nacks = [nack]
            try client.send(.settle(settle))
            let second = try #require(try Self.next(client))
            #expect(second.event.id == "b")
            // Well past A's due time, with no credit for it: the loop must be waiting, not polling.
            let start = ContinuousClock.now
            _ = try client.receive(timeout: .milliseconds(300))
            let before = try #require(ferryd.process.cpuSeconds)
            _ = try client.receive(timeout: .seconds(1))
            let used = try #require(ferryd.process.cpuSeconds) - before
            #expect(used < 0.3, "ferryd used \(used) s of CPU in 1 s while a retry waited for credit")
            #expect(ContinuousClock.now - start >= .seconds(1.2), "nothing was delivered meanwhile")

            settle = Settle()
            settle.acks = [second.deliveryID]
            try client.send(.settle(settle))
            let retried = try #require(try Self.next(client))
            #expect(retried.event.id == "a")
            #expect(retried.attempt == 2)
        }
    }

    private static func next(_ client: RawClient) throws -> Delivery? {
        var delivery: Delivery?
        _ = try Wait.untilSync(timeout: .seconds(10)) {
            if case .deliver(let deliver)? = try client.receive(timeout: .milliseconds(100))?.reply { delivery = deliver.deliveries.first }
            return delivery != nil
        }
        return delivery
    }
}
