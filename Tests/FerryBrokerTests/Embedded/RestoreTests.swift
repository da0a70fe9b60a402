import FerryBroker
import FerryBrokerTesting
import FerryProtocol
import FerryStorage
import Foundation
import Testing

/// Group state saved by one broker and restored by the next, over a durable store in a
/// temporary directory; the clock is manual, so due times survive the restart exactly.
@Suite("Group state restored after a restart, on a manual clock")
struct RestoreTests {
    @Test("acked events stay settled, in-flight ones come again with the attempt counted, a pending retry keeps its due time")
    func restoreAfterRestart() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-restore-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let storeConfiguration = DurableStoreConfiguration(directory: directory.path)
        var configuration = BrokerConfiguration()
        configuration.storage = .log(storeConfiguration)
        let open = {
            BrokerStorage(
                log: try DurableEventLog(configuration: storeConfiguration),
                groupState: try DurableGroupStateStore(configuration: storeConfiguration))
        }
        let broker = EmbeddedBroker(configuration: configuration, storage: try open())
        defer { broker.storage.close() }
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"], retry: retryPolicy(initial: .seconds(30), ackTimeout: .seconds(60)))
        let publisher = broker.connect("publisher")
        #expect(publisher.publish(topic: "t", [("acked", "", []), ("failed", "", []), ("held", "", [])])?.offsets == [0, 1, 2])
        var deliveries: [String: Delivery] = [:]
        #expect(
            broker.runUntil {
                deliveries.merge(worker.takeDeliveries().map { ($0.event.id, $0) }) { $1 }
                return deliveries.count == 3
            })
        worker.ack([deliveries["acked"]!.deliveryID])
        worker.nack(deliveries["failed"]!.deliveryID, error: "try later")
        broker.advance(by: .seconds(10))

        // The grace period ends with "held" still in flight; the store is reopened.
        try broker.restart(with: open)
        let again = broker.connect("worker-2")
        again.subscribe(group: "g", patterns: ["t"])
        let redelivered = again.takeDeliveries()
        #expect(redelivered.map(\.event.id) == ["held"])
        #expect(redelivered.first?.attempt == 2)
        // "failed" was due 30 s after its nack. The nack came at 0 s, the restart at 10 s, and
        // its shutdown waited the 5 s grace period for "held": the retry is due 15 s from here.
        broker.advance(by: .seconds(14))
        #expect(again.takeDeliveries().isEmpty)
        broker.advance(by: .seconds(2))
        let retried = again.takeDeliveries()
        #expect(retried.map(\.event.id) == ["failed"])
        #expect(retried.first?.attempt == 2)
        #expect(retried.first?.lastError == "try later")
        // And the acked event never comes back.
        again.ack((redelivered + retried).map(\.deliveryID))
        broker.advance(by: .seconds(120), step: .seconds(1))
        #expect(again.takeDeliveries().isEmpty)
    }
}
