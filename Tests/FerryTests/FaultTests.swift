import Ferry
import FerryProtocol
import FerryTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Faults: dead workers, retries, dead letters, slow consumers", .serialized, .timeLimit(.minutes(3)))
struct FaultTests {
    @Test("kill -9 of a worker process sends its in-flight events to another member")
    func killedWorkerEventsGoElsewhere() async throws {
        let ferryd = try await Ferryd(["--peer-timeout-ms", "1000", "--heartbeat-ms", "200"])
        // A worker process that takes up to 10 events and never finishes them.
        let doomed = try ManagedProcess(
            product: "ferry-interop",
            arguments: [
                "consume", "--endpoint", ferryd.endpoint, "--group", "shipping", "--topic", "Flaky", "--count", "1000",
                "--handler-delay-ms", "600000", "--max-in-flight", "10",
            ], captureOutput: true)
        // Give the doomed worker the first events: subscribe it alone, then publish.
        let bus = try EventBus(configuration: client(ferryd))
        #expect(await Wait.until(timeout: .seconds(15)) { (try? await bus.groups().first { $0.name == "shipping" }?.members) == 1 })
        try await bus.publish(batch: (0..<40).map { Flaky(id: $0) })
        #expect(await Wait.until(timeout: .seconds(10)) { doomed.outputLines.count >= 4 })
        let held = Set(
            doomed.outputLines.compactMap { line -> Int? in
                guard let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let payload = (json["payload"] as? String)?.data(using: .utf8),
                    let event = try? JSONDecoder().decode(Flaky.self, from: payload)
                else { return nil }
                return event.id
            })
        #expect(held.count >= 4)

        let handled = Recorder<(id: Int, attempt: UInt32)>()
        let survivor = Worker(name: "survivor", configuration: client(ferryd, "survivor"))
        survivor.group("shipping") { $0.on(Flaky.self) { event, context in handled.append((event.id, context.attempt)) } }
        let running = try await RunningWorker(survivor)
        doomed.send(SIGKILL)
        #expect(await Wait.until(timeout: .seconds(20)) { Set(handled.all.map(\.id)).count == 40 })
        for id in held {
            let attempts = handled.all.filter { $0.id == id }.map(\.attempt)
            #expect(attempts.contains { $0 >= 2 }, "event \(id) held by the killed worker was redelivered as a retry: \(attempts)")
        }
        try await running.stop()
        await bus.close()
    }

    @Test("a failing handler is retried with growing delays, dead-lettered after the last attempt, and handled after a requeue")
    func retryBackoffDeadLetterRequeue() async throws {
        let ferryd = try await Ferryd()
        let attempts = Recorder<(attempt: UInt32, at: ContinuousClock.Instant, lastError: String?)>()
        let healthy = Atomic<Bool>(false)
        let worker = Worker(name: "retrier", configuration: client(ferryd))
        var options = HandlerGroupOptions()
        options.retry = RetryOptions(initialDelay: .milliseconds(150), multiplier: 2, maxDelay: .seconds(5), maxAttempts: 4, jitter: 0)
        worker.group("mailer", options: options) { group in
            group.on(OrderShipped.self) { _, context in
                attempts.append((context.attempt, .now, context.lastError))
                if !healthy.load(ordering: .relaxed) { throw MailerDown() }
            }
        }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(OrderShipped(orderID: "1", trackingNumber: "TRACK-1"), id: "ship-1")

        #expect(await Wait.until(timeout: .seconds(15)) { (try? await bus.deadLetters(group: "mailer").count) == 1 })
        let seen = attempts.all
        #expect(seen.map(\.attempt) == [1, 2, 3, 4])
        let gaps = zip(seen.dropFirst(), seen).map { ($0.at - $1.at) }
        #expect(gaps.count == 3)
        if gaps.count == 3 {
            #expect(gaps[0] >= .milliseconds(140), "first retry after ~150 ms: \(gaps)")
            #expect(gaps[1] >= .milliseconds(290), "second retry after ~300 ms: \(gaps)")
            #expect(gaps[2] >= .milliseconds(590), "third retry after ~600 ms: \(gaps)")
        }
        #expect(seen.dropFirst().allSatisfy { $0.lastError?.contains("SMTP server unavailable") == true })

        let letter = try #require(try await bus.deadLetters(group: "mailer").first)
        #expect(letter.reason == .maxAttempts)
        #expect(letter.attempts == 4)
        #expect(letter.lastError.contains("SMTP server unavailable"))
        #expect(letter.event.id == "ship-1")
        #expect(try letter.event.decode(OrderShipped.self).trackingNumber == "TRACK-1")

        healthy.store(true, ordering: .relaxed)
        #expect(try await bus.requeueDeadLetters(group: "mailer") == 1)
        #expect(await Wait.until(timeout: .seconds(10)) { attempts.count == 5 })
        #expect(attempts.all.last?.attempt == 1, "a requeued event starts again at attempt 1")
        #expect(try await bus.deadLetters(group: "mailer").isEmpty)
        try await running.stop()
        await bus.close()
    }

    @Test("a poison event goes straight to the dead-letter queue and does not block the events behind it")
    func poisonEvent() async throws {
        let ferryd = try await Ferryd()
        let handled = Recorder<String>()
        let worker = Worker(name: "poison", configuration: client(ferryd))
        var options = HandlerGroupOptions()
        options.concurrency = 1
        worker.group("inventory", options: options) { group in
            group.on(OrderCreated.self) { event, _ in
                if event.amount < 0 { throw DeadLetterError("negative amount \(event.amount)") }
                handled.append(event.orderID)
            }
        }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(OrderCreated(orderID: "bad", amount: -5), id: "poison-1")
        try await bus.publish(batch: (0..<20).map { OrderCreated(orderID: "good-\($0)", amount: $0) })
        #expect(await Wait.until(timeout: .seconds(10)) { handled.count == 20 })
        // The worker's nack for the poison event and the query travel on different connections:
        // handling the events behind it does not mean the broker has processed the nack yet.
        #expect(await Wait.until(timeout: .seconds(10)) { (try? await bus.deadLetters(group: "inventory").count) == 1 })
        let letters = try await bus.deadLetters(group: "inventory")
        #expect(letters.count == 1)
        #expect(letters.first?.reason == .rejected)
        #expect(letters.first?.attempts == 1)
        #expect(letters.first?.lastError == "negative amount -5")
        #expect(try await bus.purgeDeadLetters(group: "inventory") == 1)
        #expect(try await bus.deadLetters(group: "inventory").isEmpty)
        try await running.stop()
        await bus.close()
    }

    @Test("a batched handler gets batches bounded by size and by wait")
    func batchedHandler() async throws {
        let ferryd = try await Ferryd()
        let batches = Recorder<(size: Int, at: ContinuousClock.Instant)>()
        let worker = Worker(name: "analytics", configuration: client(ferryd))
        worker.group("analytics") { group in
            group.on(UserAction.self, batch: BatchOptions(maxSize: 50, maxWait: .milliseconds(300))) { events, _ in
                batches.append((events.count, .now))
            }
        }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(batch: (0..<120).map { UserAction(userID: "u\($0 % 7)", action: "click") })
        #expect(await Wait.until(timeout: .seconds(10)) { batches.all.reduce(0) { $0 + $1.size } == 120 })
        #expect(batches.all.allSatisfy { $0.size <= 50 }, "no batch over maxSize: \(batches.all.map(\.size))")
        #expect(batches.all.contains { $0.size == 50 }, "a full batch was cut by size: \(batches.all.map(\.size))")

        let before = batches.count
        let published = ContinuousClock.now
        try await bus.publish(batch: (0..<7).map { UserAction(userID: "late\($0)", action: "view") })
        #expect(await Wait.until(timeout: .seconds(5)) { batches.count > before })
        let late = try #require(batches.all.last)
        #expect(late.size == 7, "a partial batch is cut by wait")
        #expect(late.at - published >= .milliseconds(250), "the partial batch waited for maxWait")
        try await running.stop()
        await bus.close()
    }

    @Test("a slow consumer never makes ferryd buffer without bound; publishers get STORAGE_FULL and recover")
    func slowConsumerMemoryBound() async throws {
        let budget = 8 << 20
        let ferryd = try await Ferryd(["--storage", "memory", "--max-stored-bytes", "\(budget)"])
        let baseline = ferryd.process.residentBytes
        let slowHandled = Recorder<Int>()
        let slow = Worker(name: "slow", configuration: client(ferryd, "slow"))
        var options = HandlerGroupOptions()
        options.maxInFlight = 5
        options.concurrency = 1
        slow.group("reports", options: options) { group in
            group.on(Blob.self) { event, _ in
                slowHandled.append(event.index)
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let slowRunning = try await RunningWorker(slow)
        let bus = try EventBus(configuration: client(ferryd))
        let filler = String(repeating: "x", count: 2000)
        var storageFull: FerryError?
        var published = 0
        for round in 0..<40 where storageFull == nil {
            do {
                try await bus.publish(batch: (0..<250).map { Blob(index: round * 250 + $0, filler: filler) })
                published += 250
            } catch {
                storageFull = error
            }
        }
        let error = try #require(storageFull, "publishing 20 MB into an 8 MB budget must be refused")
        #expect(error.code == .broker(.storageFull))
        let groups = try await bus.groups()
        let reports = try #require(groups.first { $0.name == "reports" })
        #expect(reports.inFlight <= 5, "credit bounds what ferryd hands a slow member")
        let grown = ferryd.process.residentBytes - baseline
        #expect(grown < 6 * budget, "ferryd grew by \(grown) bytes for an \(budget)-byte budget")
        try await slowRunning.stop()

        // A fast member drains the backlog; then publishing works again.
        let fastHandled = Recorder<Int>()
        let fast = Worker(name: "fast", configuration: client(ferryd, "fast"))
        var fastOptions = HandlerGroupOptions()
        fastOptions.maxInFlight = 1000
        fast.group("reports", options: fastOptions) { $0.on(Blob.self) { event, _ in fastHandled.append(event.index) } }
        let fastRunning = try await RunningWorker(fast)
        let total = published
        #expect(await Wait.until(timeout: .seconds(30)) { Set(slowHandled.all + fastHandled.all).count >= total })
        #expect(
            await Wait.until(timeout: .seconds(10)) {
                (try? await bus.publish(Blob(index: -1, filler: filler))) != nil
            })
        try await fastRunning.stop()
        await bus.close()
    }

    @Test("worker shutdown finishes running handlers and hands the rest to other members without spending attempts")
    func workerGracefulShutdown() async throws {
        let ferryd = try await Ferryd()
        let started = Recorder<Int>()
        let finished = Recorder<Int>()
        let leaving = Worker(name: "leaving", configuration: client(ferryd, "leaving"))
        var options = HandlerGroupOptions()
        options.concurrency = 1
        options.maxInFlight = 10
        leaving.group("billing", options: options) { group in
            group.on(Flaky.self) { event, _ in
                started.append(event.id)
                try await Task.sleep(for: .milliseconds(400))
                finished.append(event.id)
            }
        }
        let leavingRunning = try await RunningWorker(leaving)
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(batch: (0..<10).map { Flaky(id: $0) })
        #expect(await Wait.until(timeout: .seconds(10)) { started.count == 1 })

        let others = Recorder<(id: Int, attempt: UInt32)>()
        let staying = Worker(name: "staying", configuration: client(ferryd, "staying"))
        staying.group("billing") { $0.on(Flaky.self) { event, context in others.append((event.id, context.attempt)) } }
        let stayingRunning = try await RunningWorker(staying)
        try await leavingRunning.stop()
        #expect(finished.all == started.all, "the running handler finished before the worker stopped")
        #expect(await Wait.until(timeout: .seconds(10)) { Set(others.all.map(\.id)).union(finished.all).count == 10 })
        #expect(others.all.allSatisfy { $0.attempt == 1 }, "handed-back events keep their attempt: \(others.all)")
        #expect(Set(others.all.map(\.id)).isDisjoint(with: finished.all), "nothing finished was delivered again")
        try await stayingRunning.stop()
        await bus.close()
    }

    @Test("ferryd exits 0 on SIGTERM")
    func brokerGracefulShutdown() async throws {
        let ferryd = try await Ferryd()
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(OrderCreated(orderID: "1", amount: 1))
        ferryd.process.send(SIGTERM)
        #expect(await ferryd.process.waitForExit(timeout: .seconds(15)) == 0)
        await bus.close()
    }
}

struct MailerDown: Error, CustomStringConvertible {
    var description: String { "SMTP server unavailable" }
}

struct Blob: Event {
    let index: Int
    let filler: String
}
