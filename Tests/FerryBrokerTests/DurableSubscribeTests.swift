import FerryBrokerTesting
import FerryProtocol
import Foundation
import Testing

@testable import FerryBroker
@testable import FerryStorage

/// A durable group's `Subscribed` promises that the group survives a power cut: the broker
/// holds the reply, and delivers nothing to the member, until the store says the group's save
/// is on disk. Driven in-process against a durable store whose saves fail for a while (as a
/// full disk's would), so that the group's save lands only when the store retries it later.
@Suite("Subscribed waits until the group is on disk")
struct DurableSubscribeTests {
    static func isDelivery(_ message: ServerMessage) -> Bool {
        if case .deliver = message.reply { true } else { false }
    }

    @Test("the reply and the member's first delivery wait for the group's synced save")
    func subscribedWaitsForTheDisk() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-broker-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var storeConfiguration = DurableStoreConfiguration(directory: directory.path)
        storeConfiguration.groupStateSyncMilliseconds = 60_000
        let store = try DurableGroupStateStore(configuration: storeConfiguration)
        let storage = BrokerStorage(log: try DurableEventLog(configuration: storeConfiguration), groupState: store)
        defer { storage.close() }
        var configuration = BrokerConfiguration()
        configuration.storage = .log(storeConfiguration)
        let broker = EmbeddedBroker(configuration: configuration, storage: storage)
        let consumer = broker.connect("consumer")
        let publisher = broker.connect("publisher")

        // Every save fails until the disk "comes back" below.
        store.injectGroupStateSaveFailures(1_000_000)
        var subscribe = Subscribe()
        subscribe.group = "g"
        subscribe.patterns = ["t"]
        let subscribeID = consumer.send(.subscribe(subscribe))
        publisher.publish(topic: "t", id: "e1")

        // The saves fail: nothing is on disk, so no Subscribed and no delivery, however long the
        // loop runs.
        let early = broker.runUntil(timeout: .milliseconds(500)) { consumer.inbox.contains { $0.requestID == subscribeID } }
        #expect(!early, "Subscribed was sent before the group was on disk: \(consumer.inbox)")
        #expect(!consumer.inbox.contains(where: Self.isDelivery))

        // The disk is back; the store's retry lands: the reply goes out, then the delivery.
        store.injectGroupStateSaveFailures(0)
        #expect(broker.runUntil { consumer.inbox.contains(where: Self.isDelivery) })
        let seen = consumer.inbox
        let reply = try #require(seen.firstIndex { $0.requestID == subscribeID })
        guard case .subscribed = seen[reply].reply else {
            Issue.record("expected Subscribed, got \(seen[reply])")
            return
        }
        let delivery = try #require(seen.firstIndex(where: Self.isDelivery))
        #expect(reply < delivery)
        #expect(try store.load().groups.map(\.name) == ["g"])
    }

    @Test("dead-letter commands with `all` take at most max_ids entries each and say how many remain")
    func allIsBounded() throws {
        let store = InMemoryGroupStateStore()
        var changes = GroupStateChanges()
        changes.groups = [GroupDefinition(name: "g", patterns: ["t"], policy: "{}", startAtLatest: false)]
        try store.save(changes)
        for offset in 0..<5 {
            try store.addDeadLetter(
                DeadLetterRecord(
                    id: 0, group: "g", topic: "t", offset: UInt64(offset), cause: .rejected, attempts: 1, lastError: "no",
                    deadLetteredAtMicros: 0, body: []))
        }
        var configuration = BrokerConfiguration()
        configuration.limits.maxIDsPerCommand = 3
        let client = EmbeddedBroker(configuration: configuration, storage: BrokerStorage(log: InMemoryEventLog(), groupState: store))
            .connect("admin")
        var purge = DeadLetterPurge()
        purge.group = "g"
        purge.all = true
        var counts: [(UInt64, UInt64)] = []
        for _ in 1...3 {
            if case .deadLetterCount(let count)? = client.request(.deadLetterPurge(purge)) { counts.append((count.count, count.remaining)) }
        }
        #expect(counts.map(\.0) == [3, 2, 0])
        #expect(counts.map(\.1) == [2, 0, 0])
    }
}
