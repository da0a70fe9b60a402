import Ferry
import FerryTestSupport
import Foundation
import Synchronization
import Testing

@Suite("ferry dlq on real dead letters", .serialized, .timeLimit(.minutes(2)))
struct DeadLetterTests {
    @Test("list, show, requeue and purge")
    func deadLetters() async throws {
        let fixture = try await CLIFixture()
        let handled = Counter()
        let worker = Worker(name: "email-worker", configuration: .init(endpoint: fixture.ferryd.endpoint, clientName: "email-worker"))
        worker.group("email") { group in
            group.onRaw(topic: "orders.created") { event, _ in
                // Poison the first time round; a requeued event succeeds.
                if event.headers["poison"] == "yes" && handled.increment(event.id) == 1 { throw DeadLetterError("cannot mail \(event.id)") }
            }
        }
        let running = Task { try await worker.run() }
        defer { worker.stop() }
        await worker.waitUntilReady()

        for id in ["a", "b", "c"] {
            let result = try await fixture.ferry(
                "publish", "orders.created", #"{"orderID":"\#(id)"}"#, "--id", "order-\(id)", "--header", "poison=yes", "--key", id)
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(await Wait.until(timeout: .seconds(10)) { (try? await fixture.group("email"))?.int("dead_letters") == 3 })

        let list = try await fixture.ferry("dlq", "list", "email", "--json")
        #expect(list.status == 0, "\(list.stderr)")
        let entries = try #require(try list.json() as? [[String: Any]])
        #expect(entries.compactMap { $0["event_id"] as? String } == ["order-a", "order-b", "order-c"])
        #expect(entries.allSatisfy { $0["reason"] as? String == "rejected" && $0.int("attempts") == 1 })
        let ids = entries.compactMap { $0.int("id") }
        #expect(ids.count == 3)
        let table = try await fixture.ferry("dlq", "list", "email")
        #expect(table.lines.count == 4)
        #expect(table.stdout.contains("cannot mail order-b"))

        try await Self.checkShow(fixture, id: ids[1])

        let requeue = try await fixture.ferry("dlq", "requeue", "email", "--id", "\(ids[0])", "--json")
        #expect(requeue.status == 0, "\(requeue.stderr)")
        #expect((try requeue.json() as? [String: Any])?.int("requeued") == 1)
        #expect(await Wait.until(timeout: .seconds(10)) { handled.count("order-a") == 2 })
        #expect(await Wait.until(timeout: .seconds(10)) { (try? await fixture.group("email"))?.int("dead_letters") == 2 })

        let partly = try await fixture.ferry("dlq", "purge", "email", "--id", "\(ids[1])", "--id", "999")
        #expect(partly.status == 2)
        #expect(partly.stdout.contains("purged 1 dead letter of group 'email'"))

        let usage = try await fixture.ferry("dlq", "purge", "email")
        #expect(usage.status == 64)

        let purge = try await fixture.ferry("dlq", "purge", "email", "--all")
        #expect(purge.status == 0)
        #expect(purge.stdout.contains("purged 1 dead letter"))
        let empty = try await fixture.ferry("dlq", "list", "email")
        #expect(empty.stdout.contains("no dead letters"))

        let group = try #require(try await fixture.group("email"))
        #expect(group.int("dead_lettered") == 3)
        #expect(group.int("acked") == 1)
        worker.stop()
        try await running.value
    }

    /// `ferry dlq show` prints a dead letter (headers, payload, key), as text and as JSON, and
    /// exits 2 for an id the queue does not hold.
    static func checkShow(_ fixture: CLIFixture, id: Int) async throws {
        let show = try await fixture.ferry("dlq", "show", "email", "\(id)")
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("event id:       order-b"))
        #expect(show.stdout.contains("poison: yes"))
        #expect(show.stdout.contains(#""orderID" : "b""#) || show.stdout.contains(#""orderID": "b""#))
        let showJSON = try #require(try await fixture.ferry("dlq", "show", "email", "\(id)", "--json").json() as? [String: Any])
        let event = try #require(showJSON["event"] as? [String: Any])
        #expect((event["headers"] as? [String: String])?["poison"] == "yes")
        #expect((event["payload"] as? [String: Any])?["orderID"] as? String == "b")
        #expect(event["key"] as? String == "b")

        let missing = try await fixture.ferry("dlq", "show", "email", "999")
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no dead letter with id 999"))
    }
}

/// Counts handler calls per event id, from any task.
final class Counter: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func increment(_ id: String) -> Int {
        counts.withLock { counts in
            counts[id, default: 0] += 1
            return counts[id]!
        }
    }

    func count(_ id: String) -> Int { counts.withLock { $0[id] ?? 0 } }
}
