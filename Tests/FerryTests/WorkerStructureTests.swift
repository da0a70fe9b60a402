import Ferry
import FerryTestSupport
import Testing

@Suite("Worker structure: what a worker runs ends with run()", .serialized, .timeLimit(.minutes(2)))
struct WorkerStructureTests {
    @Test("handlers still running at the shutdown deadline are cancelled and awaited before run() returns; their events go back unspent")
    func handlersEndWithRun() async throws {
        let ferryd = try await Ferryd()
        let started = Recorder<String>()
        let ended = Recorder<(group: String, at: ContinuousClock.Instant)>()
        let worker = Worker(name: "stuck", configuration: client(ferryd, "stuck"))
        var options = HandlerGroupOptions()
        options.concurrency = 1
        options.shutdownDeadline = .milliseconds(300)
        // Both handlers hang until shutdown cancels them.
        worker.group("single", options: options) { group in
            group.on(OrderCreated.self) { _, _ in
                started.append("single")
                defer { ended.append(("single", .now)) }
                try await Task.sleep(for: .seconds(600))
            }
        }
        worker.group("batched", options: options) { group in
            group.on(UserAction.self, batch: BatchOptions(maxSize: 1, maxWait: .seconds(600))) { _, _ in
                started.append("batched")
                defer { ended.append(("batched", .now)) }
                try await Task.sleep(for: .seconds(600))
            }
        }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: client(ferryd))
        try await bus.publish(OrderCreated(orderID: "1", amount: 1))
        try await bus.publish(UserAction(userID: "u1", action: "click"))
        #expect(await Wait.until(timeout: .seconds(10)) { started.count == 2 })

        try await running.stop()
        let returned = ContinuousClock.now
        #expect(Set(ended.all.map(\.group)) == ["single", "batched"], "every handler returned before run() did")
        #expect(ended.all.allSatisfy { $0.at <= returned }, "no handler ran on after run() returned")

        let again = Recorder<UInt32>()
        let next = Worker(name: "next", configuration: client(ferryd, "next"))
        next.group("single") { $0.on(OrderCreated.self) { _, context in again.append(context.attempt) } }
        next.group("batched") { $0.on(UserAction.self) { _, context in again.append(context.attempt) } }
        let nextRunning = try await RunningWorker(next)
        #expect(await Wait.until(timeout: .seconds(10)) { again.count == 2 }, "the cut-short events reach another member")
        #expect(again.all == [1, 1], "a handler cancelled by shutdown spends no attempt: \(again.all)")
        try await nextRunning.stop()
        await bus.close()
    }

    @Test("a connection that cannot start fails with TRANSPORT: the bus on its first call, the worker from run()")
    func unusableEndpoint() async throws {
        let configuration = ClientConfiguration(endpoint: "nosuchtransport://127.0.0.1:1", clientName: "nowhere")
        let bus = try EventBus(configuration: configuration)
        let error = await #expect(throws: FerryError.self) { try await bus.publish(UserAction(userID: "u", action: "a")) }
        #expect(error?.code == .transport)
        await bus.close()
        let worker = Worker(name: "nowhere", configuration: configuration)
        worker.group("g") { $0.on(UserAction.self) { _, _ in } }
        let runError = await #expect(throws: FerryError.self) { try await worker.run() }
        #expect(runError?.code == .transport)
    }
}
