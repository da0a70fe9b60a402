import FerryBroker
import FerryBrokerTesting
import FerryProtocol
import FerryStorage
import Foundation
import Testing

/// What the broker records of events' lives, read back with TraceRequest, on a manual clock.
@Suite("Event traces on a manual clock")
struct TraceFlowTests {
    /// An embedded broker whose storage has a trace log in a temporary directory.
    final class Fixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-trace-\(UUID().uuidString)")
        let broker: EmbeddedBroker

        init(sampling: TraceSampling? = .all) throws {
            var configuration = BrokerConfiguration()
            configuration.traceSampling = sampling
            let trace = try TraceLog(
                configuration: TraceLogConfiguration(directory: directory.path), readEnvelope: Broker.traceEnvelopeLayout)
            broker = EmbeddedBroker(
                configuration: configuration,
                storage: BrokerStorage(log: InMemoryEventLog(), groupState: InMemoryGroupStateStore(), trace: trace))
        }

        deinit {
            broker.close()
            try? FileManager.default.removeItem(at: directory)
        }

        /// Asks for the trace until `done` holds for it (the writer works on its own thread), with
        /// a deadline; returns the last reply.
        func trace(_ selector: TraceRequest.OneOf_Selector, by client: EmbeddedClient, until done: (TraceReply) -> Bool) -> TraceReply? {
            let deadline = ContinuousClock.now + .seconds(10)
            var last: TraceReply?
            while ContinuousClock.now < deadline {
                var request = TraceRequest()
                request.selector = selector
                guard case .trace(let reply)? = client.request(.trace(request)) else { return nil }
                last = reply
                if done(reply) { return reply }
                Thread.sleep(forTimeInterval: 0.005)
            }
            return last
        }
    }

    /// Publishes one event with chain ids and a type, as the SDKs do.
    static func publish(_ client: EmbeddedClient, topic: String, id: String, key: String = "", correlation: String = "", causation: String = "") {
        var item = PublishItem()
        item.sequence = 1
        item.event.topic = topic
        item.event.id = id
        item.event.key = key
        item.event.type = "Test\(topic)"
        item.event.correlationID = correlation.isEmpty ? id : correlation
        item.event.causationID = causation
        var publish = Publish()
        publish.items = [item]
        client.request(.publish(publish))
    }

    static func kinds(_ event: TracedEvent?) -> [TraceStepKind] { event?.steps.map(\.kind) ?? [] }

    @Test("a handler that fails twice then succeeds: three deliveries, two errors, two retries with their delays, one ack")
    func failTwiceThenSucceed() throws {
        let fixture = try Fixture()
        let broker = fixture.broker
        let worker = broker.connect("worker")
        worker.subscribe(group: "inventory", patterns: ["orders"], retry: retryPolicy(initial: .milliseconds(100)), memberName: "inventory-1")
        let api = broker.connect("api")
        api.hello(name: "orders-api")
        Self.publish(api, topic: "orders", id: "order-1", key: "order-42")
        for attempt in 1...2 {
            let delivery = try #require(worker.takeDeliveries().first)
            #expect(delivery.attempt == UInt32(attempt))
            worker.nack(delivery.deliveryID, error: "out of stock \(attempt)")
            broker.advance(by: .milliseconds(100 * (1 << (attempt - 1))))
        }
        let last = try #require(worker.takeDeliveries().first)
        worker.ack([last.deliveryID])
        let reply = fixture.trace(.eventID("order-1"), by: worker) { Self.kinds($0.events.first).last == .acked }
        let event = try #require(reply?.events.first)
        #expect(event.publisher == "orders-api" && event.key == "order-42" && event.type == "Testorders")
        #expect(
            Self.kinds(event) == [.delivered, .nacked, .retryScheduled, .delivered, .nacked, .retryScheduled, .delivered, .acked])
        #expect(event.steps.filter { $0.kind == .delivered }.map(\.attempt) == [1, 2, 3])
        #expect(event.steps.filter { $0.kind == .nacked }.map(\.detail) == ["out of stock 1", "out of stock 2"])
        #expect(event.steps.filter { $0.kind == .retryScheduled }.map(\.delayMs) == [100, 200])
        #expect(event.steps.allSatisfy { $0.group == "inventory" })
        #expect(event.steps.filter { $0.kind == .delivered }.allSatisfy { $0.actor == "inventory-1" })
        #expect(reply?.sampling == "all")
    }

    @Test("a poison event is dead-lettered, requeued by an operator, then acked; the follow-up it caused is its child")
    func deadLetterRequeueAndChild() throws {
        let fixture = try Fixture()
        let broker = fixture.broker
        let worker = broker.connect("worker")
        worker.subscribe(group: "email", patterns: ["orders"], memberName: "email-1")
        let api = broker.connect("api")
        Self.publish(api, topic: "orders", id: "order-1", correlation: "saga-1")
        let poison = try #require(worker.takeDeliveries().first)
        worker.nack(poison.deliveryID, error: "template missing", deadLetter: true)
        broker.advance(by: .milliseconds(20))
        let entry = try #require(worker.deadLetters(group: "email").first)
        let operatorClient = broker.connect("operator")
        operatorClient.hello(name: "ops-console")
        var requeue = DeadLetterRequeue()
        requeue.group = "email"
        requeue.ids = [entry.id]
        operatorClient.request(.deadLetterRequeue(requeue))
        let again = try #require(worker.takeDeliveries().first)
        // The handler publishes a follow-up while handling it, then acks.
        Self.publish(worker, topic: "emails", id: "email-1", correlation: "saga-1", causation: "order-1")
        worker.ack([again.deliveryID])
        let reply = fixture.trace(.eventID("order-1"), by: worker) { $0.events.count == 2 && Self.kinds($0.events.first).last == .acked }
        let events = try #require(reply?.events)
        #expect(events.map(\.id) == ["order-1", "email-1"])
        #expect(Self.kinds(events.first) == [.delivered, .nacked, .deadLettered, .requeued, .delivered, .acked])
        let deadLettered = events[0].steps[2]
        #expect(deadLettered.detail.contains("rejected by the handler") && deadLettered.detail.contains("template missing"))
        #expect(events[0].steps[3].actor == "ops-console")
        #expect(events[1].causationID == "order-1")
        // The whole saga by its correlation id, and the order's events by key.
        #expect(fixture.trace(.correlationID("saga-1"), by: worker) { $0.events.count == 2 }?.events.count == 2)
    }

    @Test("an ack timeout and a member that leaves with the event are both steps, and the next member's ack ends it")
    func timeoutAndLostMember() throws {
        let fixture = try Fixture()
        let broker = fixture.broker
        let first = broker.connect("first")
        first.subscribe(group: "g", patterns: ["t"], retry: retryPolicy(initial: .milliseconds(10), ackTimeout: .seconds(1)), memberName: "m1")
        Self.publish(broker.connect("api"), topic: "t", id: "e1")
        #expect(first.takeDeliveries().count == 1)
        broker.advance(by: .seconds(2), step: .milliseconds(50))
        #expect(first.takeDeliveries().first?.attempt == 2)
        let second = broker.connect("second")
        second.subscribe(group: "g", patterns: ["t"], memberName: "m2")
        first.send(.goodbye(Goodbye()))
        broker.advance(by: .milliseconds(50))
        let delivery = try #require(second.takeDeliveries().first)
        second.ack([delivery.deliveryID])
        let reply = fixture.trace(.eventID("e1"), by: second) { Self.kinds($0.events.first).last == .acked }
        let steps = try #require(reply?.events.first?.steps)
        #expect(
            steps.map(\.kind) == [.delivered, .ackTimeout, .retryScheduled, .delivered, .memberLost, .retryScheduled, .delivered, .acked])
        #expect(steps[4].actor == "m1" && steps[4].detail == "said goodbye")
        #expect(steps[6].actor == "m2")
    }

    @Test("a replay over an event shows in its trace, with who moved the cursor")
    func replay() throws {
        let fixture = try Fixture()
        let broker = fixture.broker
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"])
        Self.publish(broker.connect("api"), topic: "t", id: "e1")
        worker.ack(worker.takeDeliveries().map(\.deliveryID))
        var replay = Replay()
        replay.group = "g"
        replay.beginning = true
        worker.request(.replay(replay))
        broker.advance(by: .milliseconds(10))
        worker.ack(worker.takeDeliveries().map(\.deliveryID))
        let reply = fixture.trace(.eventID("e1"), by: worker) { Self.kinds($0.events.first).count == 5 }
        #expect(Self.kinds(reply?.events.first) == [.delivered, .acked, .replayed, .delivered, .acked])
    }

    @Test("sampling failures: an event that never failed leaves no trace; one that failed is traced from its first failure")
    func failuresSampling() throws {
        let fixture = try Fixture(sampling: .failures)
        let broker = fixture.broker
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"], retry: retryPolicy(initial: .milliseconds(10)))
        let api = broker.connect("api")
        Self.publish(api, topic: "t", id: "fine", key: "k1")
        Self.publish(api, topic: "t", id: "flaky", key: "k2")
        let deliveries = worker.takeDeliveries()
        let fine = try #require(deliveries.first { $0.event.id == "fine" })
        let flaky = try #require(deliveries.first { $0.event.id == "flaky" })
        worker.ack([fine.deliveryID])
        worker.nack(flaky.deliveryID, error: "boom")
        broker.advance(by: .milliseconds(20))
        worker.ack(worker.takeDeliveries().map(\.deliveryID))
        let reply = fixture.trace(.eventID("flaky"), by: worker) { Self.kinds($0.events.first).last == .acked }
        #expect(Self.kinds(reply?.events.first) == [.delivered, .nacked, .retryScheduled, .delivered, .acked])
        #expect(reply?.events.first?.key == "k2")
        #expect(reply?.sampling == "failures")
        #expect(fixture.trace(.eventID("fine"), by: worker) { _ in true }?.events.isEmpty == true)
    }

    @Test("bad trace requests get clear errors; an unknown id an empty trace")
    func badInput() throws {
        let fixture = try Fixture()
        let client = fixture.broker.connect("c")
        #expect(client.request(.trace(TraceRequest()))?.errorCode == .missingField)
        var empty = TraceRequest()
        empty.eventID = ""
        #expect(client.request(.trace(empty))?.errorCode == .missingField)
        var huge = TraceRequest()
        huge.key = String(repeating: "k", count: 2000)
        #expect(client.request(.trace(huge))?.errorCode == .invalidArgument)
        var unknown = TraceRequest()
        unknown.eventID = "never-published"
        guard case .trace(let reply)? = client.request(.trace(unknown)) else {
            Issue.record("no TraceReply")
            return
        }
        #expect(reply.events.isEmpty && !reply.more)
        // Without a trace log the command says so.
        let plain = EmbeddedBroker().connect("c")
        #expect(plain.request(.trace(unknown))?.errorCode == .invalidArgument)
    }
}
