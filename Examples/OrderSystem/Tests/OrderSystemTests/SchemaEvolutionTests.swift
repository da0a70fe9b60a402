import Ferry
import FerryTestSupport
import Foundation
import OrderEvents
import Synchronization
import Testing

/// `OrderCreated` as the previous version of orders-api published it: schema version 1, no
/// subtotal and no tax (the protobuf JSON mapping: camelCase names, int64 as a string).
private struct OrderCreatedV1: Event {
    static let typeName = "OrderCreated"
    static let schemaVersion: UInt32 = 1
    let orderId: String
    let userId: String
    let totalCents: String
    let currency: String
    var eventKey: String? { orderId }
}

/// A log written by version 1 of `OrderCreated`, read by this build (version 2): the schema
/// check passes only with the order system's upcasters, and handlers see version 2 whether the
/// event was published as version 1 or 2, as it arrives or replayed.
@Suite("Order events across schema versions", .serialized, .timeLimit(.minutes(2)))
struct SchemaEvolutionTests {
    private func configuration(_ ferryd: Ferryd, _ name: String, upcasters: Upcasters) -> ClientConfiguration {
        var configuration = ClientConfiguration(endpoint: ferryd.endpoint, clientName: name)
        configuration.upcasters = upcasters
        return configuration
    }

    /// Runs `order-system check-schemas` against `ferryd`; its output goes to a file (not a pipe).
    static func checkSchemas(_ ferryd: Ferryd, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("check-schemas-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = try BuildProducts.url(of: "order-system")
        process.arguments = ["check-schemas", "--broker", ferryd.endpoint] + arguments
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        guard await Wait.until(timeout: .seconds(30), { !process.isRunning }) else {
            process.terminate()
            throw HarnessError(message: "order-system check-schemas did not exit")
        }
        return (process.terminationStatus, String(decoding: (try? Data(contentsOf: output)) ?? Data(), as: UTF8.self))
    }

    @Test("version-1 OrderCreated events in the log pass the schema check and reach version-2 handlers upcast, replayed too")
    func oldEventsUpcast() async throws {
        let ferryd = try await Ferryd()
        let bus = try EventBus(configuration: configuration(ferryd, "schema-test", upcasters: OrderSystemUpcasters.all))
        defer { Task { await bus.close() } }
        // The previous version's log, then one event of this version.
        for (index, total) in [12_000, 999, 1].enumerated() {
            try await bus.publish(OrderCreatedV1(orderId: "v1-\(index)", userId: "u", totalCents: "\(total)", currency: "EUR"), id: "v1-\(index)")
        }
        try await bus.publish(
            OrderCreated.with {
                $0.orderID = "v2-0"
                $0.userID = "u"
                $0.totalCents = 600
                $0.subtotalCents = 500
                $0.taxCents = 100
            }, id: "v2-0")

        let report = try await SchemaCheck.run(topic: OrderCreated.topic, on: bus, types: [OrderCreated.self], upcasters: OrderSystemUpcasters.all)
        #expect(report.passed, "\(report)")
        #expect(report.checked == 4 && report.versions["OrderCreated"] == [1: 3, 2: 1])
        let without = try await SchemaCheck.run(topic: OrderCreated.topic, on: bus, types: [OrderCreated.self], upcasters: Upcasters())
        #expect(without.failureCount == 3)
        #expect(without.failures.allSatisfy { $0.message.contains("no upcaster for OrderCreated from schema version 1 to 2") }, "\(without)")

        // The operator's tool says the same, and exits 1 without the upcasters.
        for (arguments, status, says) in [
            ([String](), Int32(0), "every event decodes"),
            (["--without-upcasters"], Int32(1), "no upcaster for OrderCreated from schema version 1 to 2"),
        ] {
            let run = try await Self.checkSchemas(ferryd, ["--topic", "OrderCreated"] + arguments)
            #expect(run.status == status, "\(run.output)")
            #expect(run.output.contains(says) && run.output.contains("OrderCreated v1: 3, v2: 1"), "\(run.output)")
        }

        // Handlers read version 2: subtotal and tax split from the total for version-1 events.
        let seen = Mutex<[String: (Int64, Int64, Int64)]>([:])
        let worker = Worker(name: "schema-worker", configuration: configuration(ferryd, "schema-worker", upcasters: OrderSystemUpcasters.all))
        worker.group("schema-readers") { group in
            group.on(OrderCreated.self) { order, _ in
                seen.withLock { $0[order.orderID] = (order.totalCents, order.subtotalCents, order.taxCents) }
            }
        }
        // A worker of this build without the upcasters: the old events cannot be read, and go
        // to the dead-letter queue naming the missing step instead of blocking the group.
        let strict = Worker(name: "strict-worker", configuration: configuration(ferryd, "strict-worker", upcasters: Upcasters()))
        strict.group("strict-readers") { group in group.on(OrderCreated.self) { _, _ in } }
        let tasks = [Task { try await worker.run() }, Task { try await strict.run() }]
        defer {
            worker.stop()
            strict.stop()
        }
        #expect(await Wait.until(timeout: .seconds(20)) { seen.withLock { $0.count } == 4 })
        let values = seen.withLock { $0 }
        #expect(values["v1-0"]! == (12_000, 10_000, 2_000))
        #expect(values["v1-1"]! == (999, 832, 167))
        #expect(values["v1-2"]! == (1, 1, 0))
        #expect(values["v2-0"]! == (600, 500, 100))

        // Replayed from the beginning, the version-1 events reach the handler upcast again.
        let replayed = Mutex<[String: Int64]>([:])
        worker.stop()
        try await tasks[0].value
        let again = Worker(name: "schema-worker-2", configuration: configuration(ferryd, "schema-worker-2", upcasters: OrderSystemUpcasters.all))
        again.group("schema-readers") { group in
            group.on(OrderCreated.self) { order, _ in replayed.withLock { $0[order.orderID] = order.subtotalCents } }
        }
        _ = try await bus.replay(group: "schema-readers", from: .beginning)
        let rerun = Task { try await again.run() }
        #expect(await Wait.until(timeout: .seconds(20)) { replayed.withLock { $0.count } == 4 })
        #expect(replayed.withLock { $0 } == ["v1-0": 10_000, "v1-1": 832, "v1-2": 1, "v2-0": 500])
        again.stop()
        try await rerun.value

        let letters = await Wait.until(timeout: .seconds(20)) { (try? await bus.deadLetters(group: "strict-readers").count) == 3 }
        #expect(letters)
        let reasons = try await bus.deadLetters(group: "strict-readers").map(\.lastError)
        #expect(reasons.allSatisfy { $0.contains("no upcaster for OrderCreated from schema version 1 to 2") }, "\(reasons)")
        strict.stop()
        try await tasks[1].value
    }
}
