import FerryProtocol
import FerryTestSupport
import Foundation
import Logging
import Testing

@testable import FerryBroker
@testable import FerryStorage

/// A durable group's `Subscribed` promises that the group survives a power cut: the broker
/// holds the reply, and delivers nothing to the member, until the store says the group's save
/// is on disk. Driven in-process against a durable store whose saves fail for a while (as a
/// full disk's would), so that the group's save lands only when the store retries it later.
@Suite("Subscribed waits until the group is on disk")
struct DurableSubscribeTests {
    static func frame(_ command: ClientMessage.OneOf_Command, requestID: UInt64) -> [UInt8] {
        var message = ClientMessage()
        message.requestID = requestID
        message.command = command
        return WireFormat.encode(message)
    }

    static func send(_ command: ClientMessage.OneOf_Command, requestID: UInt64, to broker: Broker, from peer: [UInt8]) {
        let body = frame(command, requestID: requestID)
        WireFormat.signature.withUnsafeBytes { signature in
            body.withUnsafeBytes { body in broker.receive(from: peer, frameCount: 2, signature: signature, body: body) }
        }
    }

    static func replies(_ broker: Broker) throws -> [ServerMessage] {
        try broker.takeOutbox().map { outbound in try outbound.frame.withUnsafeBytes { try WireFormat.decode(ServerMessage.self, from: $0) } }
    }

    @Test("the reply and the member's first delivery wait for the group's synced save")
    func subscribedWaitsForTheDisk() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-broker-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var storeConfiguration = DurableStoreConfiguration(directory: directory.path)
        storeConfiguration.groupStateSyncMilliseconds = 60_000
        let store = try DurableEventStore(configuration: storeConfiguration)
        defer { store.close() }
        var configuration = BrokerConfiguration()
        configuration.storage = .log(storeConfiguration)
        let broker = Broker(configuration: configuration, store: store, logger: Logger(label: "test"))
        let consumer: [UInt8] = [1, 2, 3]
        let publisher: [UInt8] = [4, 5, 6]

        // Every save fails until the disk "comes back" below.
        store.injectGroupStateSaveFailures(1_000_000)
        var subscribe = Subscribe()
        subscribe.group = "g"
        subscribe.patterns = ["t"]
        Self.send(.subscribe(subscribe), requestID: 7, to: broker, from: consumer)
        var item = PublishItem()
        item.sequence = 1
        item.event.topic = "t"
        item.event.id = "e1"
        var publish = Publish()
        publish.items = [item]
        Self.send(.publish(publish), requestID: 8, to: broker, from: publisher)

        // The saves fail: nothing is on disk, so no Subscribed and no delivery, however long the
        // loop runs.
        var seen: [ServerMessage] = []
        let early = Wait.untilSync(timeout: .milliseconds(500)) {
            broker.syncCompleted()
            broker.dispatch()
            broker.housekeep()
            broker.endIteration()
            seen += (try? Self.replies(broker)) ?? []
            return seen.contains { $0.requestID == 7 }
        }
        #expect(!early, "Subscribed was sent before the group was on disk: \(seen) durable \(store.durableGroupStateTicket) ticket \(store.groupStateTicket)")
        #expect(!seen.contains { if case .deliver = $0.reply { true } else { false } })

        // The disk is back; the store's retry lands: the reply goes out, then the delivery.
        store.injectGroupStateSaveFailures(0)
        let subscribed = Wait.untilSync(timeout: .seconds(10)) {
            broker.releaseDurableGroupReplies()
            broker.syncCompleted()
            broker.dispatch()
            broker.endIteration()
            seen += (try? Self.replies(broker)) ?? []
            return seen.contains { if case .deliver = $0.reply { true } else { false } }
        }
        #expect(subscribed)
        let reply = try #require(seen.firstIndex { $0.requestID == 7 })
        guard case .subscribed = seen[reply].reply else {
            Issue.record("expected Subscribed, got \(seen[reply])")
            return
        }
        let delivery = try #require(seen.firstIndex { if case .deliver = $0.reply { true } else { false } })
        #expect(reply < delivery)
        #expect(try store.loadGroupState().groups.map(\.name) == ["g"])
    }

    @Test("dead-letter commands with `all` take at most max_ids entries each and say how many remain")
    func allIsBounded() throws {
        let store = InMemoryEventStore(maxBytes: 1 << 20)
        var changes = GroupStateChanges()
        changes.groups = [GroupDefinition(name: "g", patterns: ["t"], policy: "{}", startAtLatest: false)]
        try store.saveGroupState(changes)
        for offset in 0..<5 {
            try store.addDeadLetter(
                DeadLetterRecord(
                    id: 0, group: "g", topic: "t", offset: UInt64(offset), cause: .rejected, attempts: 1, lastError: "no",
                    deadLetteredAtMicros: 0, body: []))
        }
        var configuration = BrokerConfiguration()
        configuration.limits.maxIDsPerCommand = 3
        let broker = Broker(configuration: configuration, store: store, logger: Logger(label: "test"))
        let client: [UInt8] = [9]
        var purge = DeadLetterPurge()
        purge.group = "g"
        purge.all = true
        var counts: [(UInt64, UInt64)] = []
        for request in 1...3 {
            Self.send(.deadLetterPurge(purge), requestID: UInt64(request), to: broker, from: client)
            for reply in try Self.replies(broker) {
                if case .deadLetterCount(let count) = reply.reply { counts.append((count.count, count.remaining)) }
            }
        }
        #expect(counts.map(\.0) == [3, 2, 0])
        #expect(counts.map(\.1) == [2, 0, 0])
    }
}
