import Ferry
import FerryTestSupport
import Foundation
import GRDB
import OrderSystemKit
import Testing

/// The outbox relay against events ferryd refuses for good: they are parked in the dead
/// outbox, counted in `/health`, and the events behind them are published.
@Suite("orders-api outbox relay", .serialized)
struct OutboxRelayTests {
    @Test("events ferryd refuses for good are parked and do not block the events behind them")
    func refusedEventsDoNotBlock() async throws {
        let system = try await OrderSystemHarness()
        _ = try await system.startAPI(["--hold-outbox"])
        // What an API without bounds once committed: more refused events than one relay batch
        // holds (500) with a key over ferryd's 1,024 bytes, and one with a payload over 1 MiB,
        // all ahead of a good order's events.
        let badKey = String(repeating: "k", count: 1_100)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let database = try DatabaseQueue(
            path: system.directory("orders-api").appendingPathComponent("orders.sqlite").path, configuration: configuration)
        try await database.write { db in
            for index in 0..<501 {
                let payload = index == 500 ? Data(repeating: UInt8(ascii: " "), count: (1 << 20) + 1) : Data("{}".utf8)
                try db.execute(
                    sql: """
                        INSERT INTO outbox (event_id, topic, type, schema_version, key, payload, created_at)
                        VALUES (?, 'UserAction', 'UserAction', 1, ?, ?, ?)
                        """,
                    arguments: ["refused-\(index)", index == 500 ? "user" : badKey, payload, Date()])
            }
        }
        let order = try await system.placeOrder(user: "user-after")
        await system.kill("orders-api")

        let client = try await system.startAPI()
        let delivered = await Wait.until(timeout: .seconds(60)) { (try? await system.history(order))?.contains("OrderCreated") == true }
        #expect(delivered, "the good order's events never reached ferryd")
        let drained = await Wait.until(timeout: .seconds(30)) { await client.outboxPending() == 0 }
        let pending = await client.outboxPending()
        #expect(drained, "outboxPending: \(pending ?? -1)")
        #expect(await client.deadOutbox() == 501)

        let codes = try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT error_code, COUNT(*) AS n FROM dead_outbox GROUP BY error_code").reduce(into: [String: Int]())
            {
                $0[$1["error_code"]] = $1["n"]
            }
        }
        #expect(codes["INVALID_ARGUMENT"] == 500, "\(codes)")
        #expect(codes.values.reduce(0, +) == 501, "\(codes)")

        // The relay keeps going: a later order is published too.
        let later = try await system.placeOrder(user: "user-later")
        #expect(await Wait.until(timeout: .seconds(20)) { (try? await system.history(later))?.contains("OrderCreated") == true })
        #expect(await client.deadOutbox() == 501)
        await system.bus.close()
    }

    @Test("while ferryd is down the relay keeps its events and retries; nothing is parked")
    func brokerDownIsRetried() async throws {
        let system = try await OrderSystemHarness()
        let client = try await system.startAPI()
        system.ferryd.process.send(SIGKILL)
        #expect(await system.ferryd.process.waitForExit(timeout: .seconds(10)) != nil)

        let order = try await system.placeOrder(user: "user-outage")
        // The publish gets no answer (TIMEOUT after the SDK's request timeout): worth retrying.
        let failing = await Wait.until(timeout: .seconds(40)) {
            ((try? await client.send("GET", "/health"))?.json["outboxError"] as? String) != nil
        }
        #expect(failing, "the relay never reported a failed publish")
        #expect(await client.outboxPending() == 2)
        #expect(await client.deadOutbox() == 0)

        let restarted = try await Ferryd(
            ["--heartbeat-ms", "200", "--peer-timeout-ms", "1000"], reusing: system.ferryd, endpoint: system.ferryd.endpoint)
        let delivered = await Wait.until(timeout: .seconds(40)) { (try? await system.history(order))?.contains("OrderCreated") == true }
        #expect(delivered, "the order's events were not published once ferryd was back")
        #expect(await Wait.until(timeout: .seconds(20)) { await client.outboxPending() == 0 })
        #expect(await client.deadOutbox() == 0)
        let health = try await client.send("GET", "/health")
        #expect(health.json["outboxError"] is NSNull, "\(health.text)")
        withExtendedLifetime(restarted) {}
        await system.bus.close()
    }
}
