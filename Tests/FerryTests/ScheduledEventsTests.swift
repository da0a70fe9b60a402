import Ferry
import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

struct PaymentReminder: Event {
    static let topic = "test.reminders"
    let orderID: String
    var eventKey: String? { orderID }
}

@Suite("Scheduled events: stored at once, delivered when due, across kill -9, cancellable", .serialized, .timeLimit(.minutes(3)))
struct ScheduledEventsTests {
    @Test("a scheduled event is confirmed at once, reaches no group before its time, then arrives; stats show it waiting")
    func deliveredWhenDue() async throws {
        let ferryd = try await Ferryd()
        let received = Recorder<(orderID: String, at: Date)>()
        let worker = Worker(name: "reminders", configuration: client(ferryd, "reminders"))
        worker.group("reminder-mail") { $0.on(PaymentReminder.self) { event, _ in received.append((event.orderID, Date())) } }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd))

        let due = Date().addingTimeInterval(1.5)
        let receipt = try await bus.publish(PaymentReminder(orderID: "o1"), deliverAt: due, id: "reminder-o1")
        let scheduledFor = try #require(receipt.scheduledFor)
        #expect(abs(scheduledFor.timeIntervalSince(due)) < 0.001)
        #expect(receipt.wasScheduledBefore == false)
        let again = try await bus.publish(PaymentReminder(orderID: "o1"), deliverAt: due.addingTimeInterval(60), id: "reminder-o1")
        #expect(again.wasScheduledBefore, "the same id is the same scheduled event")
        #expect(abs(try #require(again.scheduledFor).timeIntervalSince(due)) < 0.001, "with its first due time")

        let stats = try await bus.stats()
        #expect(stats.scheduledEvents == 1)
        #expect(stats.topics.first { $0.name == PaymentReminder.topic }?.scheduled == 1)
        #expect(stats.groups.first { $0.name == "reminder-mail" }?.scheduled == 1)
        #expect(received.count == 0)

        #expect(await Wait.until(timeout: .seconds(10)) { received.count == 1 })
        let arrival = try #require(received.all.first)
        #expect(arrival.orderID == "o1")
        #expect(arrival.at >= due.addingTimeInterval(-0.01), "not before its time (\(arrival.at.timeIntervalSince(due)) s)")
        #expect(await Wait.until(timeout: .seconds(5)) { (try? await bus.stats().scheduledEvents) == 0 })
        try await running.stop()
        await bus.close()
    }

    @Test("scheduled events survive kill -9 and a restart, and each arrives once, in due order per key")
    func survivesKill() async throws {
        let first = try await Ferryd()
        let bus = try EventBus(configuration: client(first))
        let start = Date()
        // Due after the restart, out of publish order: they come in due order.
        for index in (0..<20).reversed() {
            try await bus.publish(
                Sequenced(key: "k", sequence: index), deliverAt: start.addingTimeInterval(4 + Double(index) * 0.05), id: "seq-\(index)")
        }
        // Due before the kill: appended and delivered by the first process or, if the kill
        // comes first, by the second; never twice to the log.
        try await bus.publish(Sequenced(key: "early", sequence: 0), deliverAfter: .milliseconds(200), id: "early")
        #expect(await Wait.until(timeout: .seconds(10)) { (try? await bus.stats().scheduledEvents) == 20 })
        await bus.close()
        first.process.send(SIGKILL)
        _ = await first.process.waitForExit(timeout: .seconds(10))

        let second = try await Ferryd(reusing: first)
        let received = Recorder<Sequenced>()
        let worker = Worker(name: "sequencer", configuration: client(second, "sequencer"))
        worker.group("sequence-check") { $0.on(Sequenced.self) { event, _ in received.append(event) } }
        let running = try await RunningWorker(worker)
        #expect(await Wait.until(timeout: .seconds(20)) { received.count >= 21 })
        let ordered = received.all.filter { $0.key == "k" }.map(\.sequence)
        #expect(ordered == Array(0..<20), "due order per key: \(ordered)")
        #expect(received.all.filter { $0.key == "early" }.count == 1)
        let admin = try EventBus(configuration: client(second))
        let topic = try #require(try await admin.stats().topics.first { $0.name == Sequenced.topic })
        #expect(topic.eventCount == 21, "each scheduled event was appended once")
        try await running.stop()
        await admin.close()
    }

    @Test("a cancelled event is never delivered; cancelling twice, or after it was delivered, says so")
    func cancel() async throws {
        let ferryd = try await Ferryd()
        let received = Recorder<String>()
        let worker = Worker(name: "reminders", configuration: client(ferryd, "reminders"))
        worker.group("reminder-mail") { $0.on(PaymentReminder.self) { event, _ in received.append(event.orderID) } }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(PaymentReminder(orderID: "cancel-me"), deliverAfter: .seconds(1), id: "r-cancel")
        try await bus.publish(PaymentReminder(orderID: "keep-me"), deliverAfter: .seconds(1), id: "r-keep")
        let cancelled = try await bus.cancelScheduled(PaymentReminder.self, id: "r-cancel")
        #expect(cancelled.outcome == .cancelled)
        #expect(cancelled.dueAt != nil)
        #expect(try await bus.cancelScheduled(PaymentReminder.self, id: "r-cancel").outcome == .notScheduled)
        #expect(await Wait.until(timeout: .seconds(10)) { received.all == ["keep-me"] })
        #expect(try await bus.cancelScheduled(PaymentReminder.self, id: "r-keep").outcome == .notScheduled, "already appended")
        #expect(received.all == ["keep-me"])
        try await running.stop()
        await bus.close()
    }

    @Test("a schedule too far ahead is refused clearly; a time already past publishes at once")
    func badSchedules() async throws {
        let ferryd = try await Ferryd()
        let bus = try EventBus(configuration: client(ferryd))
        do {
            try await bus.publish(PaymentReminder(orderID: "far"), deliverAfter: .seconds(367 * 24 * 3600))
            Issue.record("a schedule 367 days ahead was accepted")
        } catch {
            #expect(error.code == .broker(.invalidArgument))
            #expect(error.message.contains("366 days"))
        }
        // A time already past publishes at once, with an offset.
        let past = try await bus.publish(PaymentReminder(orderID: "past"), deliverAt: Date().addingTimeInterval(-60))
        #expect(past.scheduledFor == nil)
        await bus.close()
    }
}
