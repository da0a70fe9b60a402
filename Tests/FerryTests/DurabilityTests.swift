import Ferry
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Durability: restarts, kill -9, replay and history", .serialized, .timeLimit(.minutes(3)))
struct DurabilityTests {
    @Test("a restarted ferryd keeps cursors, pending retries and dead letters, and redelivers no acked event")
    func restartPreservesGroupState() async throws {
        let first = try await Ferryd()
        let handled = Recorder<(orderID: String, attempt: UInt32)>()
        let worker = Worker(name: "audit", configuration: client(first, "audit"))
        var options = HandlerGroupOptions()
        options.retry = RetryOptions(initialDelay: .seconds(600), maxAttempts: 10)
        worker.group("audit", options: options) { group in
            group.on(OrderCreated.self) { event, context in
                handled.append((event.orderID, context.attempt))
                if event.amount == -1 { throw MailerDown() }
                if event.amount == -2 { throw DeadLetterError("poison order") }
            }
        }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(first))
        try await bus.publish(batch: (0..<50).map { OrderCreated(orderID: "o\($0)", amount: $0) })
        try await bus.publish(OrderCreated(orderID: "retry-me", amount: -1), id: "retry-me")
        try await bus.publish(OrderCreated(orderID: "poison", amount: -2), id: "poison")
        #expect(
            await Wait.until(timeout: .seconds(10)) {
                guard let audit = try? await bus.groups().first(where: { $0.name == "audit" }) else { return false }
                return handled.count >= 52 && audit.pendingRetries == 1 && audit.deadLetters == 1 && audit.inFlight == 0
            })
        try await running.stop()
        await bus.close()
        first.process.send(SIGKILL)
        _ = await first.process.waitForExit(timeout: .seconds(10))

        let second = try await Ferryd(reusing: first)
        let admin = try EventBus(configuration: client(second))
        let audit = try #require(try await admin.groups().first { $0.name == "audit" })
        #expect(audit.pendingRetries == 1, "the scheduled retry survived")
        #expect(audit.deadLetters == 1, "the dead letter survived")
        #expect(audit.lag == 0, "the cursor survived")
        let letters = try await admin.deadLetters(group: "audit")
        #expect(letters.first?.event.id == "poison")
        #expect(letters.first?.lastError == "poison order")

        let after = Recorder<String>()
        let again = Worker(name: "audit-2", configuration: client(second, "audit-2"))
        again.group("audit", options: options) { $0.on(OrderCreated.self) { event, _ in after.append(event.orderID) } }
        let rerunning = try await RunningWorker(again)
        try await admin.publish(OrderCreated(orderID: "marker", amount: 1))
        #expect(await Wait.until(timeout: .seconds(10)) { after.all.contains("marker") })
        #expect(after.all == ["marker"], "no acked event was delivered again: \(after.all)")

        let history = try await admin.history(key: "o7")
        #expect(history.map(\.event.id).count == 1)
        #expect(try history.first?.event.decode(OrderCreated.self).amount == 7)
        try await rerunning.stop()
        await admin.close()
    }

    @Test("replay from the beginning, an offset or a time delivers the events again")
    func replay() async throws {
        let ferryd = try await Ferryd()
        let seen = Recorder<Int>()
        let worker = Worker(name: "replayer", configuration: client(ferryd))
        worker.group("reports") { $0.on(OrderCreated.self) { event, _ in seen.append(event.amount) } }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(batch: (0..<20).map { OrderCreated(orderID: "r\($0)", amount: $0) })
        #expect(await Wait.until(timeout: .seconds(10)) { seen.count == 20 })
        let middle = Date()
        try await bus.publish(batch: (20..<30).map { OrderCreated(orderID: "r\($0)", amount: $0) })
        #expect(await Wait.until(timeout: .seconds(10)) { seen.count == 30 })

        let positions = try await bus.replay(group: "reports", from: .beginning)
        #expect(positions["OrderCreated"] == 0)
        #expect(await Wait.until(timeout: .seconds(10)) { seen.count == 60 })
        try await bus.replay(group: "reports", from: .offset(25))
        #expect(await Wait.until(timeout: .seconds(10)) { seen.count == 65 })
        #expect(Array(seen.all.suffix(5)).sorted() == [25, 26, 27, 28, 29])
        try await bus.replay(group: "reports", from: .time(middle))
        #expect(await Wait.until(timeout: .seconds(10)) { seen.count == 75 })
        #expect(Array(seen.all.suffix(10)).sorted() == Array(20..<30))
        try await running.stop()
        await bus.close()
    }

    @Test("kill -9 of ferryd during load loses no confirmed event")
    func killLoopLosesNothing() async throws {
        var ferryd = try await Ferryd(["--heartbeat-ms", "200", "--peer-timeout-ms", "2000"])
        let endpoint = ferryd.endpoint
        let groups = ["billing", "shipping"]
        let received = Recorder<(group: String, id: Int)>()
        var workers: [RunningWorker] = []
        for group in groups {
            let worker = Worker(name: "w-\(group)", configuration: client(ferryd, "w-\(group)"))
            var options = HandlerGroupOptions()
            options.retry = RetryOptions(initialDelay: .milliseconds(100), maxAttempts: 10)
            worker.group(group, options: options) { $0.on(Flaky.self) { event, _ in received.append((group, event.id)) } }
            workers.append(try await RunningWorker(worker))
        }
        var publisherConfiguration = client(ferryd, "publisher")
        publisherConfiguration.requestTimeout = .seconds(3)
        let bus = try EventBus(configuration: publisherConfiguration)
        let confirmed = Recorder<Int>()
        let publishing = Task {
            var next = 0
            while !Task.isCancelled && next < 3000 {
                let batch = (next..<(next + 25)).map { Flaky(id: $0) }
                do {
                    // The same ids on a retry: the broker stores each once.
                    let wires = batch.map { event in (event, "kill-loop-\(event.id)") }
                    for (event, id) in wires { _ = try await bus.publish(event, id: id) }
                    for event in batch { confirmed.append(event.id) }
                    next += 25
                } catch {
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        for round in 0..<3 {
            let target = (round + 1) * 150
            _ = await Wait.until(timeout: .seconds(20)) { confirmed.count >= target }
            ferryd.process.send(SIGKILL)
            _ = await ferryd.process.waitForExit(timeout: .seconds(10))
            // The restarted ferryd keeps the first one's data directory alive (a released first
            // instance used to delete it under the second run, so the third started empty).
            ferryd = try await Ferryd(["--heartbeat-ms", "200", "--peer-timeout-ms", "2000"], reusing: ferryd, endpoint: endpoint)
            #expect(FileManager.default.fileExists(atPath: ferryd.dataDirectory.path))
        }
        _ = await Wait.until(timeout: .seconds(20)) { confirmed.count >= 600 }
        publishing.cancel()
        _ = await publishing.value
        let expected = Set(confirmed.all)
        #expect(expected.count >= 450, "the publisher made progress through the restarts: \(expected.count)")
        for group in groups {
            let delivered = await Wait.until(timeout: .seconds(30)) {
                expected.isSubset(of: Set(received.all.filter { $0.group == group }.map(\.id)))
            }
            let got = received.all.filter { $0.group == group }.map(\.id)
            #expect(delivered, "\(group) got every confirmed event; missing \(expected.subtracting(got).sorted().prefix(20))")
            let duplicates = got.count - Set(got).count
            print("kill-loop: \(group) received \(got.count) deliveries for \(Set(got).count) events (\(duplicates) duplicates)")
        }
        for worker in workers { try await worker.stop() }
        await bus.close()
        _ = ferryd
    }
}
