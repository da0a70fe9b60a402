import FerryBroker
import FerryBrokerTesting
import FerryProtocol
import Testing

/// Poison events, the dead-letter queue, requeue and purge, on the embedded broker.
@Suite("Dead letters on a manual clock")
struct DeadLetterFlowTests {
    @Test("a poison event goes to the dead-letter queue at once and does not hold back the events behind it")
    func poisonDoesNotBlock() throws {
        let broker = EmbeddedBroker()
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"], maxInFlight: 1)
        broker.connect("publisher").publish(topic: "t", [("a", "", []), ("b", "", [])])
        let poison = try #require(worker.takeDeliveries().first)
        #expect(poison.event.id == "a")
        worker.nack(poison.deliveryID, error: "cannot parse", deadLetter: true)
        let next = try #require(worker.takeDeliveries().first)
        #expect(next.event.id == "b")
        worker.ack([next.deliveryID])
        broker.advance(by: .milliseconds(20))
        let entries = worker.deadLetters(group: "g")
        #expect(entries.map(\.event.id) == ["a"])
        #expect(entries.first?.reason == .rejected)
        #expect(entries.first?.attempts == 1)
        #expect(entries.first?.lastError == "cannot parse")
        #expect(worker.groupStats("g")?.deadLetters == 1)
    }

    @Test("a requeued dead letter is delivered again from attempt 1, and leaves the queue once acked")
    func requeue() throws {
        let broker = EmbeddedBroker()
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"])
        broker.connect("publisher").publish(topic: "t", id: "a")
        let poison = try #require(worker.takeDeliveries().first)
        worker.nack(poison.deliveryID, deadLetter: true)
        broker.advance(by: .milliseconds(20))
        let entry = try #require(worker.deadLetters(group: "g").first)
        var requeue = DeadLetterRequeue()
        requeue.group = "g"
        requeue.ids = [entry.id]
        guard case .deadLetterCount(let count)? = worker.request(.deadLetterRequeue(requeue)) else {
            Issue.record("no DeadLetterCount")
            return
        }
        #expect(count.count == 1)
        #expect(count.remaining == 0)
        let again = try #require(worker.takeDeliveries().first)
        #expect(again.event.id == "a")
        #expect(again.attempt == 1)
        worker.ack([again.deliveryID])
        broker.advance(by: .seconds(120), step: .seconds(1))
        #expect(worker.takeDeliveries().isEmpty)
        #expect(worker.deadLetters(group: "g").isEmpty)
        #expect(worker.groupStats("g")?.pendingRetries == 0)
    }

    @Test("an ephemeral group drops a failed event instead of dead-lettering it")
    func ephemeralDrops() throws {
        let broker = EmbeddedBroker()
        let tail = broker.connect("tail")
        tail.subscribe(group: "", patterns: ["t"], retry: retryPolicy(maxAttempts: 1), ephemeral: true)
        broker.connect("publisher").publish(topic: "t", id: "a")
        let delivery = try #require(tail.takeDeliveries().first)
        tail.nack(delivery.deliveryID)
        broker.advance(by: .seconds(5), step: .milliseconds(100))
        #expect(tail.takeDeliveries().isEmpty)
        let group = try #require(tail.stats()?.groups.first)
        #expect(group.ephemeral)
        #expect(group.pendingRetries == 0)
        #expect(group.inFlight == 0)
        #expect(broker.counter("ferry_ephemeral_dropped_total") == 1)
    }
}
