import Ferry
import FerryTestSupport
import Foundation
import Testing

/// What the SDK does when the broker restarts in the middle of a conversation (protocol section
/// 10.3). The races that matter (a restart between a request and its reply) are made exact with
/// a ``FakeBroker`` that says what a real ferryd says in them.
@Suite("Resume: broker restarts in the middle of requests", .serialized, .timeLimit(.minutes(1)))
struct ResumeTests {
    /// A worker on a fake broker, with one group taking `topic`, that has been welcomed by broker
    /// run "run-A" and has sent its Subscribe (not answered yet).
    private struct Started {
        let broker: FakeBroker
        let handled: Recorder<String>
        let worker: Worker
        let ready: Task<RunningWorker, any Error>
        let subscribe: FakeBroker.Received
        /// Where the test's reading of ``FakeBroker/received`` goes on.
        let cursor: Int

        /// Answers the Subscribe (subscription 1) and returns the worker, running.
        func subscribed() async throws -> RunningWorker {
            broker.subscribed(subscribe.requestID, subscriptionID: 1, group: "audit")
            return try await ready.value
        }
    }

    private func start(topic: String, autoResume: Bool = true) async throws -> Started {
        let broker = try FakeBroker()
        var configuration = ClientConfiguration(endpoint: broker.endpoint, clientName: "resume-test")
        configuration.requestTimeout = .seconds(20)
        configuration.autoResume = autoResume
        let worker = Worker(name: "resume-test", configuration: configuration)
        var options = HandlerGroupOptions()
        options.shutdownDeadline = .milliseconds(200)
        let handled = Recorder<String>()
        worker.group("audit", options: options) { group in
            group.onRaw(topic: topic) { event, _ in handled.append(event.id) }
        }
        let ready = Task { try await RunningWorker(worker) }
        var cursor = 0
        let hello = try #require(await broker.next(after: &cursor) { $0 == .hello })
        broker.welcome(hello.requestID, brokerID: "run-A")
        let subscribe = try #require(await broker.next(after: &cursor) { $0 == .subscribe(group: "audit") })
        return Started(broker: broker, handled: handled, worker: worker, ready: ready, subscribe: subscribe, cursor: cursor)
    }

    @Test("a Welcome with a new broker id is a restart: the client greets, subscribes and republishes again")
    func welcomeFromNewBrokerResumes() async throws {
        let started = try await start(topic: "resume.welcome")
        let (broker, handled) = (started.broker, started.handled)
        var cursor = started.cursor
        let running = try await started.subscribed()
        let bus = try #require(started.worker.bus)
        let publishing = Task {
            try await bus.publish(raw: [RawEvent(topic: "resume.welcome", id: "w-1", payload: Data("{}".utf8))])
        }
        _ = try #require(await broker.next(after: &cursor) { Self.publishes($0, "w-1") })

        // Run A dies unconfirmed; run B says hello with a heartbeat; the client resumes.
        broker.heartbeat(brokerID: "run-B")
        _ = try #require(await broker.next(after: &cursor) { $0 == .goodbye })
        let helloToB = try #require(await broker.next(after: &cursor) { $0 == .hello })
        _ = try #require(await broker.next(after: &cursor) { $0 == .subscribe(group: "audit") })
        _ = try #require(await broker.next(after: &cursor) { Self.publishes($0, "w-1") })

        // Run B dies before answering; run C gets the queued Hello and answers it. The Welcome is
        // the first the client hears of run C: it must resume again, or the Subscribe and the
        // Publish that died with run B are never sent again.
        broker.welcome(helloToB.requestID, brokerID: "run-C")
        _ = try #require(
            await broker.next(after: &cursor, timeout: .seconds(5)) { $0 == .goodbye }, "a Welcome with a new broker id is a restart")
        let helloToC = try #require(await broker.next(after: &cursor) { $0 == .hello })
        let subscribeToC = try #require(await broker.next(after: &cursor) { $0 == .subscribe(group: "audit") })
        let publishToC = try #require(await broker.next(after: &cursor) { Self.publishes($0, "w-1") })
        guard case .publish(let items) = publishToC.command else { return }

        broker.welcome(helloToC.requestID, brokerID: "run-C")
        broker.subscribed(subscribeToC.requestID, subscriptionID: 1, group: "audit")
        broker.confirm(publishToC.requestID, sequences: items.map(\.sequence), offsets: items.map { _ in 7 })
        #expect(try await publishing.value.map(\.offset) == [7])
        broker.deliver(subscriptionID: 1, deliveryID: 1, topic: "resume.welcome", eventID: "w-1", offset: 7)
        #expect(await Wait.until(timeout: .seconds(5)) { handled.all == ["w-1"] })
        _ = try #require(await broker.next(after: &cursor) { $0 == .settle(acks: [1], nacks: []) })
        try await running.stop()
    }

    @Test("after a restart, the reply to a Subscribe sent before it and that session's deliveries are ignored, never settled")
    func lateSubscribedIsIgnored() async throws {
        let started = try await start(topic: "resume.late")
        let (broker, handled) = (started.broker, started.handled)
        var cursor = started.cursor
        // The Subscribe goes unanswered by run A, which dies.
        let early = started.subscribe

        // Run B got the client's queued heartbeat and then its queued Subscribe. It answers both:
        // the heartbeat (so the client resumes: Goodbye, Hello, Subscribe) and the Subscribe, with
        // a delivery for it. That session ends with the client's Goodbye; its delivery ids start
        // again at 1 in the next one, so settling delivery 1 of it would settle another event.
        broker.heartbeat(brokerID: "run-B")
        _ = try #require(await broker.next(after: &cursor) { $0 == .goodbye })
        let helloToB = try #require(await broker.next(after: &cursor) { $0 == .hello })
        let again = try #require(await broker.next(after: &cursor) { $0 == .subscribe(group: "audit") })
        broker.subscribed(early.requestID, subscriptionID: 1, group: "audit")
        broker.deliver(subscriptionID: 1, deliveryID: 1, topic: "resume.late", eventID: "stale", offset: 3)
        // Run B's session after the Goodbye.
        broker.welcome(helloToB.requestID, brokerID: "run-B")
        broker.subscribed(again.requestID, subscriptionID: 1, group: "audit")
        broker.deliver(subscriptionID: 1, deliveryID: 1, topic: "resume.late", eventID: "fresh", offset: 4)

        let running = try await started.ready.value
        #expect(await Wait.until(timeout: .seconds(5)) { handled.all.contains("fresh") })
        _ = try #require(await broker.next(after: &cursor) { if case .settle = $0 { true } else { false } })
        #expect(handled.all == ["fresh"], "the delivery of the session the Goodbye ended reached a handler")
        try await running.stop()
        let settles = broker.received.compactMap { received -> (acks: [UInt64], nacks: [UInt64])? in
            guard case .settle(let acks, let nacks) = received.command else { return nil }
            return (acks, nacks)
        }
        #expect(settles.flatMap(\.acks) == [1], "only the delivery of the live session is acked")
        #expect(settles.flatMap(\.nacks).isEmpty, "nothing of the ended session is settled")
    }

    @Test("the same broker run saying it holds no session: the worker subscribes again, once, and goes on")
    func noSessionNoticeResubscribes() async throws {
        let started = try await start(topic: "resume.ended")
        let (broker, handled) = (started.broker, started.handled)
        var cursor = started.cursor
        let running = try await started.subscribed()

        // The worker was stalled past the peer timeout and ferryd ended its session. A plain
        // heartbeat of the same run means nothing; the notice does. The second notice answers
        // something sent before the resume's Hello (it comes before that Hello's Welcome): ignored.
        broker.heartbeat(brokerID: "run-A")
        broker.heartbeat(brokerID: "run-A", noSession: true)
        broker.heartbeat(brokerID: "run-A", noSession: true)
        _ = try #require(await broker.next(after: &cursor) { $0 == .goodbye })
        let hello = try #require(await broker.next(after: &cursor) { $0 == .hello })
        let again = try #require(await broker.next(after: &cursor) { $0 == .subscribe(group: "audit") })
        broker.welcome(hello.requestID, brokerID: "run-A")
        broker.subscribed(again.requestID, subscriptionID: 2, group: "audit")
        broker.deliver(subscriptionID: 2, deliveryID: 9, topic: "resume.ended", eventID: "e-1", offset: 1)
        #expect(await Wait.until(timeout: .seconds(5)) { handled.all == ["e-1"] })
        _ = try #require(await broker.next(after: &cursor) { $0 == .settle(acks: [9], nacks: []) })
        #expect(broker.received.filter { $0.command == .goodbye }.count == 1, "one resume for both notices")
        try await running.stop()
    }

    @Test("a tail's ephemeral group keeps the name the broker gave it when the client resumes")
    func tailKeepsBrokerChosenGroup() async throws {
        let (broker, bus, tail, start) = try await startTail(group: "ephemeral-5eed", autoResume: true)
        var cursor = start
        #expect(tail.group == "ephemeral-5eed")

        broker.heartbeat(brokerID: "run-B")
        _ = try #require(await broker.next(after: &cursor) { $0 == .goodbye })
        _ = try #require(await broker.next(after: &cursor) { $0 == .hello })
        let again = await broker.next(after: &cursor) { if case .subscribe = $0 { true } else { false } }
        #expect(again?.command == .subscribe(group: "ephemeral-5eed"), "the Subscribe after the restart names the same group")
        await bus.close()
    }

    @Test(
        "with autoResume off, a restart or an ended session ends the worker's run with its error and fails what was pending",
        arguments: [true, false])
    func workerWithoutAutoResume(restart: Bool) async throws {
        let started = try await start(topic: "resume.off", autoResume: false)
        let broker = started.broker
        var cursor = started.cursor
        let running = try await started.subscribed()
        let bus = try #require(started.worker.bus)
        let publishing = Task { try await bus.publish(raw: [RawEvent(topic: "resume.off", id: "o-1", payload: Data("{}".utf8))]) }
        _ = try #require(await broker.next(after: &cursor) { Self.publishes($0, "o-1") })
        let before = broker.received.count

        if restart {
            broker.heartbeat(brokerID: "run-B")
        } else {
            broker.heartbeat(brokerID: "run-A", noSession: true)
        }
        let expected: FerryError.Code = restart ? .brokerRestarted : .sessionEnded
        let failure = await #expect(throws: FerryError.self) { try await publishing.value }
        #expect(failure?.code == expected)
        #expect(await Wait.until(timeout: .seconds(10)) { started.worker.bus == nil }, "run() did not return by itself")
        let ended = await #expect(throws: FerryError.self) { try await running.stop() }
        #expect(ended?.code == expected)
        // Nothing of a resume went out.
        let after = broker.received.dropFirst(before).map(\.command)
        #expect(!after.contains { $0 == .hello || $0 == .subscribe(group: "audit") || Self.publishes($0, "o-1") }, "\(after)")
    }

    @Test("with autoResume off, a restart ends a tail's sequence and later calls fail at once")
    func tailWithoutAutoResume() async throws {
        let (broker, bus, tail, start) = try await startTail(group: "ephemeral-1", autoResume: false)
        var cursor = start
        let counts = Recorder<Int>()
        let reading = Task {
            var count = 0
            for await _ in tail { count += 1 }
            counts.append(count)
        }
        defer { reading.cancel() }
        broker.deliver(subscriptionID: 1, deliveryID: 1, topic: "resume.tail", eventID: "t-1")
        _ = try #require(await broker.next(after: &cursor) { $0 == .settle(acks: [1], nacks: []) })

        broker.heartbeat(brokerID: "run-B")
        #expect(await Wait.until(timeout: .seconds(10)) { counts.all == [1] }, "the sequence ends")
        #expect(tail.endError?.code == .brokerRestarted)
        let later = await #expect(throws: FerryError.self) {
            try await bus.publish(raw: [RawEvent(topic: "resume.tail", id: "t-2", payload: Data("{}".utf8))])
        }
        #expect(later?.code == .brokerRestarted)
        #expect(!broker.received.dropFirst(cursor).contains { $0.command == .hello }, "nothing of a resume went out")
        await bus.close()
    }

    @Test("a Subscribed that comes after its request timed out is undone: the client unsubscribes that member")
    func lateSubscribedIsUnsubscribed() async throws {
        let broker = try FakeBroker()
        var configuration = ClientConfiguration(endpoint: broker.endpoint, clientName: "late-subscribed")
        configuration.requestTimeout = .milliseconds(300)
        let bus = try EventBus(configuration: configuration)
        var cursor = 0
        let tailing = Task { try await bus.tail(["late.tail"], group: "late") }
        let hello = try #require(await broker.next(after: &cursor) { $0 == .hello })
        broker.welcome(hello.requestID, brokerID: "run-A")
        let subscribe = try #require(await broker.next(after: &cursor) { $0 == .subscribe(group: "late") })
        // The caller gives up first…
        await #expect(throws: FerryError.self) { _ = try await tailing.value }
        // …then the broker's answer arrives: the member it made must not live on.
        broker.subscribed(subscribe.requestID, subscriptionID: 42, group: "late")
        let undo = await broker.next(after: &cursor) { if case .unsubscribe = $0 { true } else { false } }
        #expect(undo?.command == .unsubscribe(subscriptionID: 42))
        await bus.close()
    }

    /// A bus on a fake broker (run "run-A") with a tail on resume.tail, subscription 1 of the
    /// ephemeral group `group`; and where the test's reading of ``FakeBroker/received`` goes on.
    private func startTail(group: String, autoResume: Bool) async throws -> (FakeBroker, EventBus, EventTail, Int) {
        let broker = try FakeBroker()
        var configuration = ClientConfiguration(endpoint: broker.endpoint, clientName: "resume-tail")
        configuration.requestTimeout = .seconds(20)
        configuration.autoResume = autoResume
        let bus = try EventBus(configuration: configuration)
        var cursor = 0
        let tailing = Task { try await bus.tail(["resume.tail"]) }
        let hello = try #require(await broker.next(after: &cursor) { $0 == .hello })
        broker.welcome(hello.requestID, brokerID: "run-A")
        let subscribe = try #require(await broker.next(after: &cursor) { $0 == .subscribe(group: "") })
        broker.subscribed(subscribe.requestID, subscriptionID: 1, group: group)
        return (broker, bus, try await tailing.value, cursor)
    }

    private static func publishes(_ command: FakeBroker.Command, _ eventID: String) -> Bool {
        guard case .publish(let items) = command else { return false }
        return items.contains { $0.eventID == eventID }
    }
}
