import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// Retries of events the log holds are read back when due, not kept in memory: a consumer that
/// fails a backlog does not move the backlog into the broker's memory. Raw DEALERs on a thread
/// of their own.
@Suite("Retries keep memory bounded", .serialized, .timeLimit(.minutes(2)))
struct RetryMemoryTests {
    static let events = 20_000
    static let payloadBytes = 4096

    @Test("20 000 events of 4 KiB failed with a long delay leave ferryd's memory where it was")
    func failedBacklog() async throws {
        let ferryd = try await Ferryd(["--fsync", "never"])
        try await onOwnThread {
            let publisher = try RawClient(endpoint: ferryd.endpoint)
            let consumer = try RawClient(endpoint: ferryd.endpoint)
            var subscribe = Subscribe()
            subscribe.group = "g"
            subscribe.patterns = ["bulk"]
            subscribe.maxInFlight = 1000
            subscribe.retry.maxAttempts = 5
            _ = try consumer.subscribe(.subscribe(subscribe))
            try Self.publishAll(publisher)
            let before = ferryd.process.residentBytes

            var failed = 0
            _ = try Wait.untilSync(timeout: .seconds(60)) {
                if case .deliver(let deliver)? = try consumer.receive(timeout: .milliseconds(100))?.reply {
                    var settle = Settle()
                    settle.nacks = deliver.deliveries.map { delivery in
                        var nack = Nack()
                        nack.deliveryID = delivery.deliveryID
                        nack.delayMs = 600_000
                        return nack
                    }
                    try consumer.send(.settle(settle))
                    failed += deliver.deliveries.count
                }
                return failed == Self.events
            }
            #expect(failed == Self.events)
            let stats = try consumer.stats()
            #expect(stats.groups.first { $0.name == "g" }?.pendingRetries == UInt64(Self.events))
            let grown = ferryd.process.residentBytes - before
            // Keeping the bodies would take at least events × payload (80 MiB).
            #expect(grown < Self.events * Self.payloadBytes / 2, "ferryd grew by \(grown >> 20) MiB holding retries")
        }
    }

    /// Publishes the events in batches and waits for every confirm.
    private static func publishAll(_ client: RawClient) throws {
        let payload = Data(repeating: 0x61, count: payloadBytes)
        var confirmed = 0
        for batch in stride(from: 0, to: events, by: 500) {
            var publish = Publish()
            publish.items = (batch..<min(batch + 500, events)).map { index in
                var item = PublishItem()
                item.sequence = UInt64(index)
                item.event.topic = "bulk"
                item.event.id = "e\(index)"
                item.event.payload = payload
                return item
            }
            try client.send(.publish(publish))
        }
        _ = try Wait.untilSync(timeout: .seconds(60)) {
            if case .publishResult(let result)? = try client.receive(timeout: .milliseconds(100))?.reply {
                confirmed += result.confirmed.count
            }
            return confirmed == events
        }
        #expect(confirmed == events)
    }
}
