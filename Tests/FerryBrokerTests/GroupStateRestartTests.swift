import FerryBroker
import FerryProtocol
import FerryStorage
import FerryTestSupport
import Foundation
import SwiftProtobuf
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a restarted ferryd delivers, in the cases where saved group state and the log disagree
/// or a redelivery is saved only as a retry. Raw DEALERs on threads of their own.
@Suite("Group state across restarts: nothing acked comes back, nothing unacked is lost", .serialized, .timeLimit(.minutes(3)))
struct GroupStateRestartTests {
    @Test("an event released, redelivered and acked between two saves is not delivered again after a restart")
    func releasedThenAcked() async throws {
        let first = try await Ferryd()
        try await onOwnThread {
            let client = try RawClient(endpoint: first.endpoint)
            _ = try client.subscribe(Self.subscribe(group: "g"))
            try client.publish(topic: "orders.created", id: "released")
            let delivery = try #require(try Self.deliveries(client, count: 1).first)
            var release = Nack()
            release.deliveryID = delivery.deliveryID
            release.release = true
            var settle = Settle()
            settle.nacks = [release]
            try client.send(.settle(settle))
            // The release is scheduled and dispatched again in one loop pass.
            let again = try #require(try Self.deliveries(client, count: 1).first)
            #expect(again.event.id == "released")
            settle = Settle()
            settle.acks = [again.deliveryID]
            try client.send(.settle(settle))
            _ = try client.stats()
        }
        await Self.stop(first)

        let ids = try await Self.idsAfterRestart(of: first, Self.subscribe(group: "g"), marker: "marker")
        #expect(ids == ["marker"], "an acked event came back: \(ids)")
    }

    @Test("a requeued dead letter in flight when ferryd is killed is delivered again")
    func requeuedInFlight() async throws {
        let first = try await Ferryd()
        try await Self.requeueInFlight(on: first, id: "poison")
        // In flight, unacked: saved nowhere but as the requeue's retry.
        first.process.send(SIGKILL)
        _ = await first.process.waitForExit(timeout: .seconds(10))

        let ids = try await Self.idsAfterRestart(of: first, Self.subscribe(group: "g"), marker: "marker", alsoWaitingFor: "poison")
        #expect(ids.contains("poison"), "the requeued event was lost: \(ids)")
    }

    @Test("a requeued dead letter restored after a restart is delivered even when retention dropped it from the log")
    func requeuedAfterRetention() async throws {
        let smallSegments = ["--segment-bytes", "1024"]
        let first = try await Ferryd(smallSegments)
        // Events after the poison, consumed, roll the log past the poison's segment.
        try await Self.requeueInFlight(on: first, id: "poison", followedBy: 60)
        first.process.send(SIGKILL)
        _ = await first.process.waitForExit(timeout: .seconds(10))
        let oldest = try #require(Self.segments(first, topic: "orders.created").first)
        #expect(Self.segments(first, topic: "orders.created").count > 1)

        // Restarted with retention that keeps only the active segment: every group consumed the
        // rest, and the requeued retry does not hold the cursor back.
        let configuration = first.directory.appendingPathComponent("retention.yaml")
        try "retention:\n  max_bytes: 1\n".write(to: configuration, atomically: true, encoding: .utf8)
        let second = try await Ferryd(smallSegments + ["--config", configuration.path], reusing: first)
        #expect(await Wait.until(timeout: .seconds(10)) { !FileManager.default.fileExists(atPath: oldest.path) })
        let ids = try await onOwnThread {
            let client = try RawClient(endpoint: second.endpoint)
            _ = try client.subscribe(Self.subscribe(group: "g"))
            try client.publish(topic: "orders.created", id: "marker")
            return try Self.idsUntil("marker", client, alsoWaitingFor: "poison")
        }
        #expect(ids.contains("poison"), "the requeued event was lost with its segment: \(ids)")
    }

    @Test("a saved cursor past the end of its recovered log goes back to the end, so new events are delivered")
    func cursorPastTheEnd() async throws {
        let first = try await Ferryd(["--fsync", "never"])
        try await onOwnThread {
            let client = try RawClient(endpoint: first.endpoint)
            _ = try client.subscribe(Self.subscribe(group: "g"))
            for index in 0..<5 { try client.publish(topic: "orders.created", id: "e\(index)") }
            try Self.ackDeliveries(client, count: 5)
        }
        await Self.stop(first)
        // The last record torn, as a crash of the machine may leave a `never` log: the saved
        // cursor (5) is now past the log's end (4).
        let segment = try #require(Self.segments(first, topic: "orders.created").last)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: segment.path)[.size] as? Int)
        #expect(truncate(segment.path, off_t(size - 10)) == 0)

        let ids = try await Self.idsAfterRestart(
            of: first, arguments: ["--fsync", "never"], Self.subscribe(group: "g"), marker: "after-restart")
        #expect(ids == ["after-restart"])
    }

    @Test("a dead letter at an offset the log lost, and gave to a new event, does not settle that event after a restart")
    func deadLetterAtReusedOffset() async throws {
        let never = ["--fsync", "never"]
        let first = try await Ferryd(never)
        try await onOwnThread { try Self.deadLetter("poison", try RawClient(endpoint: first.endpoint)) }
        await Self.stop(first)
        // The poison's record torn, as a crash of the machine may leave a `never` log: offset 0
        // goes to the next event, while the dead-letter queue still names it.
        let segment = try #require(Self.segments(first, topic: "orders.created").last)
        #expect(truncate(segment.path, 10) == 0)

        // The new event at offset 0 is in flight when ferryd stops: saved as in flight.
        let second = try await Ferryd(never + ["--shutdown-grace-ms", "100"], reusing: first)
        try await onOwnThread {
            let client = try RawClient(endpoint: second.endpoint)
            _ = try client.subscribe(Self.subscribe(group: "g"))
            try client.publish(topic: "orders.created", id: "new")
            let delivered = try Self.deliveries(client, count: 1)
            #expect(delivered.map(\.event.id) == ["new"] && delivered.first?.offset == 0)
        }
        await Self.stop(second)

        let ids = try await Self.idsAfterRestart(
            of: first, arguments: never, Self.subscribe(group: "g"), marker: "marker", alsoWaitingFor: "new")
        #expect(ids.contains("new"), "the unacked event was taken for the dead letter at its offset: \(ids)")
    }

    @Test("a requeued retry whose offset the log gave to another event is matched against the dead-letter queue by its own copy")
    func requeuedRetryAtReusedOffset() async throws {
        let first = try await Self.runWithOneAckedEvent(["--fsync", "never"], Self.subscribe(group: "g"), id: "new")
        // What a lost log tail can leave: a requeued retry of an old event at offset 0 (with
        // its copy), while the new event that took offset 0 was dead-lettered.
        do {
            let storage = try Self.openStorage(first.dataDirectory)
            defer { storage.close() }
            try Self.deadLetterStoredEvent(at: 0, in: storage)
            var changes = GroupStateChanges()
            changes.addRetry(Self.requeuedRetry(at: 0, body: try Self.envelope(topic: "orders.created", id: "old")))
            try storage.groupState.save(changes)
        }

        let ids = try await Self.idsAfterRestart(
            of: first, arguments: ["--fsync", "never"], Self.subscribe(group: "g"), marker: "marker", alsoWaitingFor: "old")
        #expect(ids.contains("old"), "the requeued event was taken for the dead letter at its offset: \(ids)")
    }

    @Test("a topic whose group cursor was never saved is followed from its beginning after a restart")
    func topicWithoutSavedCursor() async throws {
        let first = try await Self.runWithOneAckedEvent(["--fsync", "never"], Self.subscribeFromLatest(group: "g"), id: "first")
        // A new topic's first event stored, and the broker killed before it saved the group's
        // cursor for it: the store gets the event, the group state does not.
        do {
            var configuration = DurableStoreConfiguration(directory: first.dataDirectory.path)
            configuration.defaults.fsync = .never
            let store = try DurableEventLog(configuration: configuration)
            let body = try Self.envelope(topic: "orders.cancelled", id: "unseen")
            _ = try store.append(topic: "orders.cancelled", events: [NewEvent(key: "", timestampMicros: 1, body: body, id: "unseen")])
            store.close()
        }

        let ids = try await Self.idsAfterRestart(
            of: first, arguments: ["--fsync", "never"], Self.subscribeFromLatest(group: "g"), marker: "marker", alsoWaitingFor: "unseen")
        #expect(ids.contains("unseen"), "the group skipped a topic created before the crash: \(ids)")
    }

    @Test("a requeued event dead-lettered again just before a crash is not also redelivered")
    func deadLetteredRequeueIsNotRedelivered() async throws {
        let first = try await Self.runWithOneAckedEvent([], Self.subscribe(group: "g"), id: "twice-failed")
        // What a kill -9 can leave: the new dead-letter entry written, the requeued retry's row
        // (rescheduled by an earlier failure) not yet removed.
        do {
            let storage = try Self.openStorage(first.dataDirectory)
            defer { storage.close() }
            var changes = GroupStateChanges()
            changes.addRetry(Self.requeuedRetry(at: 0, body: nil))
            try storage.groupState.save(changes)
            try Self.deadLetterStoredEvent(at: 0, in: storage)
            _ = try storage.groupState.load()
        }

        let ids = try await Self.idsAfterRestart(of: first, Self.subscribe(group: "g"), marker: "marker")
        #expect(ids == ["marker"], "a dead-lettered event was redelivered too: \(ids)")
    }

    // MARK: - Helpers

    /// The log and group state a stopped ferryd left in `directory`.
    private static func openStorage(_ directory: URL) throws -> BrokerStorage {
        let configuration = DurableStoreConfiguration(directory: directory.path)
        return BrokerStorage(
            log: try DurableEventLog(configuration: configuration), groupState: try DurableGroupStateStore(configuration: configuration))
    }

    /// A stored envelope, as a publish of event `id` to `topic` makes it.
    private static func envelope(topic: String, id: String) throws -> [UInt8] {
        var event = WireEvent()
        event.topic = topic
        event.id = id
        return try event.serializedBytes()
    }

    /// Puts the event stored at `offset` of orders.created into group "g"'s dead-letter queue,
    /// as the broker does (with its stored envelope).
    private static func deadLetterStoredEvent(at offset: UInt64, in storage: BrokerStorage) throws {
        let stored = try #require(try storage.log.read(topic: "orders.created", from: offset, limit: 1).first)
        try storage.groupState.addDeadLetter(
            DeadLetterRecord(
                id: 0, group: "g", topic: "orders.created", offset: offset, cause: .maxAttempts, attempts: 1, lastError: "x",
                deadLetteredAtMicros: 1, body: stored.body))
    }

    /// The saved row of a requeued dead letter of group "g" at `offset` of orders.created.
    private static func requeuedRetry(at offset: UInt64, body: [UInt8]?) -> RetryState {
        RetryState(
            group: "g", topic: "orders.created", offset: offset, origin: .requeuedDeadLetter, attempt: 2, dueMicros: 0,
            lastError: "requeued",
            key: "", body: body)
    }

    private static func subscription(group: String) -> Subscribe {
        var subscribe = Subscribe()
        subscribe.group = group
        subscribe.patterns = ["orders.>"]
        return subscribe
    }

    private static func subscribe(group: String) -> ClientMessage.OneOf_Command { .subscribe(subscription(group: group)) }

    /// A group that starts with events published after it was created.
    private static func subscribeFromLatest(group: String) -> ClientMessage.OneOf_Command {
        var subscribe = subscription(group: group)
        subscribe.start = .startLatest
        return .subscribe(subscribe)
    }

    /// Receives `count` deliveries and acks them; returns once the broker has read the acks.
    private static func ackDeliveries(_ client: RawClient, count: Int) throws {
        var settle = Settle()
        settle.acks = try deliveries(client, count: count).map(\.deliveryID)
        try client.send(.settle(settle))
        _ = try client.stats()
    }

    /// Runs a ferryd in which group "g" (`subscribe`) consumed and acked one event, `id`, and
    /// stops it.
    private static func runWithOneAckedEvent(
        _ arguments: [String], _ subscribe: ClientMessage.OneOf_Command, id: String
    ) async throws -> Ferryd {
        let ferryd = try await Ferryd(arguments)
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            _ = try client.subscribe(subscribe)
            try client.publish(topic: "orders.created", id: id)
            try ackDeliveries(client, count: 1)
        }
        await stop(ferryd)
        return ferryd
    }

    /// Restarts ferryd on `first`'s data, subscribes again, publishes `marker` and returns the
    /// ids delivered until it (and `other`) arrived.
    private static func idsAfterRestart(
        of first: Ferryd, arguments: [String] = [], _ subscribe: ClientMessage.OneOf_Command, marker: String,
        alsoWaitingFor other: String? = nil
    ) async throws -> [String] {
        let second = try await Ferryd(arguments, reusing: first)
        return try await onOwnThread {
            let client = try RawClient(endpoint: second.endpoint)
            _ = try client.subscribe(subscribe)
            try client.publish(topic: "orders.created", id: marker)
            return try idsUntil(marker, client, alsoWaitingFor: other)
        }
    }

    /// Stops ferryd gracefully: group state is saved on the way out.
    private static func stop(_ ferryd: Ferryd) async {
        ferryd.process.send(SIGTERM)
        #expect(await ferryd.process.waitForExit(timeout: .seconds(15)) == 0)
    }

    /// Group "g" (one attempt) dead-letters `id`, consumes and acks `later` events after it,
    /// requeues the dead letter and receives it again without settling it.
    private static func requeueInFlight(on ferryd: Ferryd, id: String, followedBy later: Int = 0) async throws {
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            try deadLetter(id, client)
            for index in 0..<later { try client.publish(topic: "orders.created", id: "later-\(index)") }
            if later > 0 { try ackDeliveries(client, count: later) }

            var requeue = DeadLetterRequeue()
            requeue.group = "g"
            requeue.all = true
            try client.send(.deadLetterRequeue(requeue))
            let redelivered = try deliveries(client, count: 1)
            #expect(redelivered.map(\.event.id) == [id])
        }
    }

    /// Subscribes group "g" with one attempt, publishes `id` and nacks it into the dead-letter queue.
    private static func deadLetter(_ id: String, _ client: RawClient) throws {
        var command = subscription(group: "g")
        command.retry.maxAttempts = 1
        _ = try client.subscribe(.subscribe(command))
        try client.publish(topic: "orders.created", id: id)
        let delivery = try #require(try deliveries(client, count: 1).first)
        var nack = Nack()
        nack.deliveryID = delivery.deliveryID
        nack.error = "handler failed"
        var settle = Settle()
        settle.nacks = [nack]
        try client.send(.settle(settle))
        #expect(try Wait.untilSync(timeout: .seconds(10)) { try client.stats().groups.first { $0.name == "g" }?.deadLettered == 1 })
    }

    /// Reads Deliver messages until `count` deliveries came (or 10 s passed).
    private static func deliveries(_ client: RawClient, count: Int) throws -> [Delivery] {
        var deliveries: [Delivery] = []
        _ = try Wait.untilSync(timeout: .seconds(10)) {
            if case .deliver(let deliver)? = try client.receive(timeout: .milliseconds(100))?.reply {
                deliveries += deliver.deliveries
            }
            return deliveries.count >= count
        }
        return deliveries
    }

    /// The ids delivered until `marker` (and `other`, if given) arrived, acking each.
    private static func idsUntil(_ marker: String, _ client: RawClient, alsoWaitingFor other: String? = nil) throws -> [String] {
        var ids: [String] = []
        _ = try Wait.untilSync(timeout: .seconds(10)) {
            if case .deliver(let deliver)? = try client.receive(timeout: .milliseconds(100))?.reply {
                ids += deliver.deliveries.map(\.event.id)
                var settle = Settle()
                settle.acks = deliver.deliveries.map(\.deliveryID)
                try client.send(.settle(settle))
            }
            return ids.contains(marker) && (other.map(ids.contains) ?? true)
        }
        return ids
    }

    private static func segments(_ ferryd: Ferryd, topic: String) -> [URL] {
        let directory = ferryd.dataDirectory.appendingPathComponent("topics").appendingPathComponent(topic)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".log") }.sorted().map { directory.appendingPathComponent($0) }
    }
}
