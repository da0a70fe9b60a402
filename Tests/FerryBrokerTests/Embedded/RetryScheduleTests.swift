import FerryBroker
import FerryBrokerTesting
import FerryProtocol
import Testing

/// Retries, backoff, jitter, ack timeouts and dead-lettering after the last attempt, on the
/// embedded broker's manual clock: each due time is checked to the millisecond.
@Suite("Retry schedule on a manual clock")
struct RetryScheduleTests {
    @Test("a failing event is retried after growing, capped delays, then dead-lettered after the last attempt")
    func backoffGrowsThenDeadLetters() throws {
        let broker = EmbeddedBroker()
        let worker = broker.connect("worker")
        worker.subscribe(
            group: "g", patterns: ["orders.>"],
            retry: retryPolicy(initial: .seconds(1), multiplier: 2, maxDelay: .seconds(3), maxAttempts: 4))
        broker.connect("publisher").publish(topic: "orders.created", id: "a")
        var delivery = try #require(worker.takeDeliveries().first)
        #expect(delivery.attempt == 1)
        // 1 s, 2 s, then 4 s capped at 3 s.
        for (attempt, delay) in [(UInt32(2), Duration.seconds(1)), (3, .seconds(2)), (4, .seconds(3))] {
            worker.nack(delivery.deliveryID, error: "failure \(attempt - 1)")
            broker.advance(by: delay - .milliseconds(1))
            #expect(worker.takeDeliveries().isEmpty, "attempt \(attempt) came early")
            broker.advance(by: .milliseconds(1))
            let due = worker.takeDeliveries()
            try #require(due.count == 1, "attempt \(attempt) did not come when due")
            #expect(due[0].attempt == attempt)
            #expect(due[0].lastError == "failure \(attempt - 1)")
            delivery = due[0]
        }
        worker.nack(delivery.deliveryID, error: "final failure")
        broker.advance(by: .seconds(60))
        #expect(worker.takeDeliveries().isEmpty)
        let entries = worker.deadLetters(group: "g")
        #expect(entries.map(\.event.id) == ["a"])
        #expect(entries.first?.attempts == 4)
        #expect(entries.first?.reason == .maxAttempts)
        #expect(entries.first?.lastError == "final failure")
        #expect(worker.groupStats("g")?.pendingRetries == 0)
        #expect(broker.counter("ferry_redeliveries_total") == 3)
        #expect(broker.counter("ferry_dead_lettered_total") == 1)
    }

    @Test("jitter spreads each retry within ±jitter of its delay")
    func jitterStaysInBounds() throws {
        let broker = EmbeddedBroker()
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"], maxInFlight: 100, retry: retryPolicy(initial: .seconds(1), jitter: 0.5))
        let events = (0..<60).map { (id: "e\($0)", key: "", payload: [UInt8]()) }
        broker.connect("publisher").publish(topic: "t", events)
        let first = worker.takeDeliveries()
        try #require(first.count == 60)
        for delivery in first { worker.nack(delivery.deliveryID) }
        var arrivals: [Duration] = []
        var elapsed = Duration.zero
        while elapsed < .seconds(2) {
            broker.advance(by: .milliseconds(10))
            elapsed += .milliseconds(10)
            arrivals += worker.takeDeliveries().map { _ in elapsed }
        }
        #expect(arrivals.count == 60)
        #expect(arrivals.allSatisfy { $0 >= .milliseconds(500) && $0 <= .milliseconds(1510) }, "\(arrivals)")
        #expect(arrivals.max()! - arrivals.min()! >= .milliseconds(300), "jitter spread the retries: \(arrivals)")
    }

    @Test("a nack's own delay overrides the backoff")
    func nackDelayWins() throws {
        let broker = EmbeddedBroker()
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"], retry: retryPolicy(initial: .seconds(10)))
        broker.connect("publisher").publish(topic: "t", id: "a")
        let delivery = try #require(worker.takeDeliveries().first)
        worker.nack(delivery.deliveryID, error: "later", delay: .milliseconds(250))
        broker.advance(by: .milliseconds(249))
        #expect(worker.takeDeliveries().isEmpty)
        broker.advance(by: .milliseconds(1))
        #expect(worker.takeDeliveries().map(\.attempt) == [2])
    }

    @Test("an unacked delivery fails after the ack timeout and is retried with the backoff")
    func ackTimeout() throws {
        let broker = EmbeddedBroker()
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"], retry: retryPolicy(initial: .milliseconds(500), ackTimeout: .seconds(2)))
        broker.connect("publisher").publish(topic: "t", id: "a")
        let delivery = try #require(worker.takeDeliveries().first)
        broker.advance(by: .milliseconds(1950), step: .milliseconds(50))
        #expect(worker.takeDeliveries().isEmpty)
        #expect(worker.groupStats("g")?.inFlight == 1)
        // Timed out at the first housekeeping pass at or after 2 s, retried 500 ms later.
        broker.advance(by: .milliseconds(500), step: .milliseconds(50))
        #expect(worker.takeDeliveries().isEmpty)
        broker.advance(by: .milliseconds(100), step: .milliseconds(50))
        let retried = worker.takeDeliveries()
        #expect(retried.map(\.attempt) == [2])
        #expect(retried.first?.lastError == "not acknowledged within 2000 ms")
        // The late ack of the timed-out delivery settles nothing.
        worker.ack([delivery.deliveryID])
        #expect(worker.groupStats("g")?.inFlight == 1)
        #expect(broker.counter("ferry_ack_timeouts_total") == 1)
        #expect(broker.counter("ferry_settle_unknown_total") == 1)
    }

    @Test("a due retry waiting for credit lets the loop sleep until credit comes back, then is delivered")
    func blockedRetryWaitsIdle() throws {
        let broker = EmbeddedBroker()
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["orders.>"], maxInFlight: 1, retry: retryPolicy(ackTimeout: .seconds(60)))
        let publisher = broker.connect("publisher")
        publisher.publish(topic: "orders.created", id: "a")
        publisher.publish(topic: "orders.created", id: "b")
        let first = try #require(worker.takeDeliveries().first)
        #expect(first.event.id == "a")
        // A's retry is due in 100 ms; its credit goes to B at once, which is held.
        worker.nack(first.deliveryID, delay: .milliseconds(100))
        let second = try #require(worker.takeDeliveries().first)
        #expect(second.event.id == "b")
        broker.advance(by: .milliseconds(100))
        broker.advance(by: .milliseconds(50))
        // Due, but no credit: the broker asks to sleep, not to spin.
        #expect(broker.timeUntilWakeup >= .milliseconds(50))
        broker.advance(by: .seconds(1), step: .milliseconds(100))
        #expect(worker.takeDeliveries().isEmpty)
        worker.ack([second.deliveryID])
        let retried = try #require(worker.takeDeliveries().first)
        #expect(retried.event.id == "a")
        #expect(retried.attempt == 2)
    }
}
