import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// Delivery ids across sessions (proto/README.md 5.6, 10.3). Synchronous tests: the raw sockets
/// are confined to one thread.
@Suite("Delivery ids", .serialized, .timeLimit(.minutes(1)))
struct DeliveryIDTests {
    @Test("a settlement of an earlier session's delivery id does not settle the new session's delivery")
    func staleAckIsIgnored() async throws {
        let ferryd = try await Ferryd()
        try await onOwnThread {
            try Self.staleAck(client: RawClient(endpoint: ferryd.endpoint), admin: RawClient(endpoint: ferryd.endpoint))
        }
    }

    /// `client` consumes; `admin` publishes and reads Stats.
    private static func staleAck(client: RawClient, admin: RawClient) throws {
        var subscribe = Subscribe()
        subscribe.group = "mailer"
        subscribe.patterns = ["orders.>"]
        _ = try client.subscribe(.subscribe(subscribe))
        try admin.publish(topic: "orders.created", id: "o-1")
        let first = try #require(try nextDelivery(client))

        // The session ends (as a restart ends it) before the client settles; the event goes out
        // again in the client's next session, under that session's id.
        try client.send(.goodbye(Goodbye()))
        _ = try client.subscribe(.subscribe(subscribe))
        let second = try #require(try nextDelivery(client))
        #expect(second.offset == first.offset)
        #expect(second.deliveryID != first.deliveryID)
        #expect(first.deliveryID < 1 << 48 && second.deliveryID < 1 << 48, "ids leave the top 16 bits to clients")

        // The stale ack is ignored: the new delivery stays in flight until it is acked itself.
        // (Stats on the same connection is processed after the Settle sent before it.)
        var stale = Settle()
        stale.acks = [first.deliveryID]
        try client.send(.settle(stale))
        #expect(try client.stats().groups.first { $0.name == "mailer" }?.inFlight == 1)
        var settle = Settle()
        settle.acks = [second.deliveryID]
        try client.send(.settle(settle))
        #expect(try Wait.untilSync(timeout: .seconds(5)) { try admin.stats().groups.first { $0.name == "mailer" }?.inFlight == 0 })
    }

    private static func nextDelivery(_ client: RawClient) throws -> Delivery? {
        while let reply = try client.receive() {
            if case .deliver(let deliver) = reply.reply, let delivery = deliver.deliveries.first { return delivery }
        }
        return nil
    }
}
