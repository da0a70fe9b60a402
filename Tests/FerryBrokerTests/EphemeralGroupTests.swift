import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Ephemeral groups (Subscribe.ephemeral, proto/README.md 6.1) over a raw DEALER. Synchronous
/// tests: the raw sockets are confined to one thread.
@Suite("Ephemeral groups live in memory only and leave with their last member", .serialized, .timeLimit(.minutes(2)))
struct EphemeralGroupTests {
    @Test("an ephemeral group drops instead of dead-lettering, and is not restored after a restart")
    func notPersisted() async throws {
        let first = try await Ferryd()
        try await onOwnThread { try Self.beforeRestart(first.endpoint) }
        first.process.send(SIGTERM)
        #expect(await first.process.waitForExit(timeout: .seconds(15)) == 0)
        let second = try await Ferryd(reusing: first)
        try await onOwnThread { try Self.afterRestart(second.endpoint) }
    }

    private static func beforeRestart(_ endpoint: String) throws {
        let client = try RawClient(endpoint: endpoint)
        _ = try subscribe(client, group: "keep", ephemeral: false)
        var command = subscribeCommand(group: "temp", ephemeral: true)
        command.subscribe.retry.maxAttempts = 1
        _ = try subscribe(client, command)
        try client.publish(topic: "orders.created", id: "o-1")
        // Both groups get the event; the ephemeral one fails it for good.
        var deliveries: [Delivery] = []
        _ = try Wait.untilSync(timeout: .seconds(10)) {
            if case .deliver(let deliver)? = try client.receive(timeout: .milliseconds(100))?.reply {
                deliveries += deliver.deliveries
            }
            return deliveries.count == 2
        }
        #expect(deliveries.count == 2)
        var settle = Settle()
        for delivery in deliveries {
            var nack = Nack()
            nack.deliveryID = delivery.deliveryID
            nack.error = "tail gave up"
            settle.nacks.append(nack)
        }
        try client.send(.settle(settle))
        let admin = try RawClient(endpoint: endpoint)
        #expect(
            try Wait.untilSync(timeout: .seconds(5)) {
                try stats(admin).groups.first { $0.name == "temp" }?.deadLettered == 1
            })
        var list = DeadLetterList()
        list.group = "temp"
        try admin.send(.deadLetterList(list))
        guard case .deadLetterEntries(let entries)? = try admin.receive()?.reply else {
            Issue.record("no DeadLetterEntries for the ephemeral group")
            return
        }
        #expect(entries.total == 0)
        let snapshot = try stats(admin)
        #expect(snapshot.prometheusText.contains("ferry_ephemeral_dropped_total 1"))
        #expect(snapshot.groups.map(\.name) == ["keep", "temp"])
    }

    private static func afterRestart(_ endpoint: String) throws {
        let admin = try RawClient(endpoint: endpoint)
        let groups = try stats(admin).groups
        #expect(groups.map(\.name) == ["keep"])
        // The durable group kept its retry; the ephemeral one is gone, with its retries.
        #expect(groups.first?.pendingRetries == 1)
    }

    enum LastSettle: String, CaseIterable, Sendable { case ack, nack, release }

    @Test(
        "a draining member's last ack, nack or release ends its ephemeral group, and the broker keeps serving",
        arguments: LastSettle.allCases)
    func drainedLastMember(_ last: LastSettle) async throws {
        let ferryd = try await Ferryd()
        try await onOwnThread { try Self.drainedLastMember(ferryd.endpoint, last) }
        #expect(ferryd.process.isRunning, "ferryd died")
    }

    private static func drainedLastMember(_ endpoint: String, _ last: LastSettle) throws {
        let tail = try RawClient(endpoint: endpoint)
        let subscribed = try subscribe(tail, group: "", ephemeral: true)
        try tail.publish(topic: "orders.created", id: "o-1")
        var delivery: Delivery?
        _ = try Wait.untilSync(timeout: .seconds(10)) {
            if case .deliver(let deliver)? = try tail.receive(timeout: .milliseconds(100))?.reply { delivery = deliver.deliveries.first }
            return delivery != nil
        }
        let held = try #require(delivery)
        // Leave gracefully: nothing new, and out once nothing is in flight.
        var unsubscribe = Unsubscribe()
        unsubscribe.subscriptionID = subscribed.subscriptionID
        unsubscribe.drain = true
        try tail.send(.unsubscribe(unsubscribe))
        guard case .unsubscribed? = try tail.receive()?.reply else {
            Issue.record("no Unsubscribed")
            return
        }
        var settle = Settle()
        switch last {
        case .ack: settle.acks = [held.deliveryID]
        case .nack, .release:
            var nack = Nack()
            nack.deliveryID = held.deliveryID
            nack.release = last == .release
            settle.nacks = [nack]
        }
        try tail.send(.settle(settle))
        let admin = try RawClient(endpoint: endpoint)
        #expect(try Wait.untilSync(timeout: .seconds(5)) { try stats(admin).groups.isEmpty }, "the drained group is gone")
    }

    // MARK: - Helpers

    private static func subscribeCommand(group: String, ephemeral: Bool) -> ClientMessage.OneOf_Command {
        var subscribe = Subscribe()
        subscribe.group = group
        subscribe.ephemeral = ephemeral
        subscribe.patterns = ["orders.>"]
        return .subscribe(subscribe)
    }

    private static func subscribe(_ client: RawClient, group: String, ephemeral: Bool) throws -> Subscribed {
        try subscribe(client, subscribeCommand(group: group, ephemeral: ephemeral))
    }

    private static func subscribe(_ client: RawClient, _ command: ClientMessage.OneOf_Command) throws -> Subscribed {
        try client.subscribe(command)
    }

    private static func stats(_ client: RawClient) throws -> Stats { try client.stats() }
}

extension ClientMessage.OneOf_Command {
    /// The Subscribe inside, for tests that adjust it.
    fileprivate var subscribe: Subscribe {
        get {
            guard case .subscribe(let subscribe) = self else { return Subscribe() }
            return subscribe
        }
        set { self = .subscribe(newValue) }
    }
}
