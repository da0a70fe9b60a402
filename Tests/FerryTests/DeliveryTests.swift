import Ferry
import FerryTestSupport
import Foundation
import Testing

@Suite("Delivery through a real ferryd", .serialized, .timeLimit(.minutes(2)))
struct DeliveryTests {
    @Test("a published event reaches its handler with its context, and follow-ups inherit the correlation id")
    func roundTrip() async throws {
        let ferryd = try await Ferryd()
        let seen = Recorder<(OrderCreated, EventContext)>()
        let payments = Recorder<EventContext>()
        let worker = Worker(name: "payments", configuration: client(ferryd, "payments"))
        worker.group("payment") { group in
            group.on(OrderCreated.self) { event, context in
                seen.append((event, context))
                try await context.publish(PaymentProcessed(orderID: event.orderID, paymentID: "pay-\(event.orderID)"))
            }
        }
        worker.group("audit") { group in
            group.on(PaymentProcessed.self) { _, context in payments.append(context) }
        }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd, "publisher"))
        let receipt = try await bus.publish(OrderCreated(orderID: "42", amount: 99), id: "order-42")
        #expect(receipt.offset == 0)

        #expect(await Wait.until(timeout: .seconds(10)) { payments.count == 1 })
        let (event, context) = try #require(seen.all.first)
        #expect(event.orderID == "42" && event.amount == 99)
        #expect(context.eventID == "order-42")
        #expect(context.key == "42")
        #expect(context.attempt == 1)
        #expect(context.correlationID == "order-42")
        #expect(context.event.typeName == "OrderCreated")
        let payment = try #require(payments.all.first)
        #expect(payment.correlationID == "order-42", "a follow-up keeps the chain's correlation id")
        #expect(payment.causationID == "order-42", "a follow-up names the event that caused it")
        try await running.stop()
        await bus.close()
    }

    @Test("every group gets every event")
    func twoGroups() async throws {
        let ferryd = try await Ferryd()
        let email = Recorder<String>()
        let inventory = Recorder<String>()
        let worker = Worker(name: "two-groups", configuration: client(ferryd))
        worker.group("email") { $0.on(OrderCreated.self) { event, _ in email.append(event.orderID) } }
        worker.group("inventory") { $0.on(OrderCreated.self) { event, _ in inventory.append(event.orderID) } }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(batch: (0..<200).map { OrderCreated(orderID: "o\($0)", amount: $0) })
        #expect(await Wait.until(timeout: .seconds(15)) { email.count >= 200 && inventory.count >= 200 })
        let expected = Set((0..<200).map { "o\($0)" })
        #expect(Set(email.all) == expected)
        #expect(Set(inventory.all) == expected)
        try await running.stop()
        await bus.close()
    }

    @Test("members of one group share its events")
    func competingConsumers() async throws {
        let ferryd = try await Ferryd()
        let byMember = Recorder<(String, Int)>()
        var workers: [RunningWorker] = []
        for name in ["a", "b"] {
            let worker = Worker(name: name, configuration: client(ferryd, name))
            var options = HandlerGroupOptions()
            options.maxInFlight = 8
            worker.group("shared", options: options) { group in
                group.on(Flaky.self) { event, _ in
                    byMember.append((name, event.id))
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            workers.append(try await RunningWorker(worker))
        }
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(batch: (0..<300).map { Flaky(id: $0) })
        #expect(await Wait.until(timeout: .seconds(20)) { Set(byMember.all.map(\.1)).count == 300 })
        let counts = Dictionary(grouping: byMember.all, by: \.0).mapValues(\.count)
        #expect((counts["a"] ?? 0) > 30, "member a took part: \(counts)")
        #expect((counts["b"] ?? 0) > 30, "member b took part: \(counts)")
        for worker in workers { try await worker.stop() }
        await bus.close()
    }

    @Test("events with the same key reach one member, in publish order")
    func perKeyOrder() async throws {
        let ferryd = try await Ferryd()
        let received = Recorder<(member: String, key: String, sequence: Int)>()
        var workers: [RunningWorker] = []
        for name in ["m1", "m2", "m3"] {
            let worker = Worker(name: name, configuration: client(ferryd, name))
            var options = HandlerGroupOptions()
            options.concurrency = 4
            worker.group("ordered", options: options) { group in
                group.on(Sequenced.self) { event, _ in received.append((name, event.key, event.sequence)) }
            }
            workers.append(try await RunningWorker(worker))
        }
        let bus = try EventBus(configuration: client(ferryd))
        let keys = (0..<12).map { "key-\($0)" }
        var events: [Sequenced] = []
        for sequence in 0..<40 { for key in keys { events.append(Sequenced(key: key, sequence: sequence)) } }
        try await bus.publish(batch: events)
        let total = events.count
        #expect(await Wait.until(timeout: .seconds(20)) { received.count >= total })
        for key in keys {
            let forKey = received.all.filter { $0.key == key }
            #expect(forKey.map(\.sequence) == Array(0..<40), "order of \(key)")
            #expect(Set(forKey.map(\.member)).count == 1, "\(key) stayed on one member")
        }
        #expect(Set(received.all.map(\.member)).count > 1, "keys were spread over members")
        for worker in workers { try await worker.stop() }
        await bus.close()
    }

    @Test("republishing an event id is confirmed with the same offset and delivered once")
    func idempotentPublish() async throws {
        let ferryd = try await Ferryd()
        let handled = Recorder<String>()
        let worker = Worker(name: "dedup", configuration: client(ferryd))
        worker.group("dedup") { $0.on(OrderCreated.self) { event, _ in handled.append(event.orderID) } }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd))
        let first = try await bus.publish(OrderCreated(orderID: "7", amount: 1), id: "same-id")
        let again = try await bus.publish(OrderCreated(orderID: "7", amount: 1), id: "same-id")
        let other = try await bus.publish(OrderCreated(orderID: "8", amount: 1), id: "other-id")
        #expect(first.offset == again.offset)
        #expect(other.offset == first.offset + 1)
        #expect(await Wait.until(timeout: .seconds(10)) { handled.count >= 2 })
        #expect(handled.all.sorted() == ["7", "8"])
        try await running.stop()
        await bus.close()
    }

    @Test("a publish to an unreachable broker fails with a timeout, not a hang")
    func unreachableBroker() async throws {
        var configuration = ClientConfiguration(endpoint: "tcp://127.0.0.1:1", clientName: "nobody")
        configuration.requestTimeout = .milliseconds(500)
        let bus = try EventBus(configuration: configuration)
        await #expect(throws: FerryError.self) {
            try await bus.publish(OrderCreated(orderID: "1", amount: 1))
        }
        do {
            try await bus.publish(OrderCreated(orderID: "1", amount: 1))
        } catch {
            #expect(error.code == .timeout)
        }
        await bus.close()
    }
}
