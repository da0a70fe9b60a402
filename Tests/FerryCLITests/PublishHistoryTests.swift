import FerryTestSupport
import Foundation
import Testing

@Suite("ferry publish and history", .serialized, .timeLimit(.minutes(2)))
struct PublishHistoryTests {
    let fixture: CLIFixture

    init() async throws {
        fixture = try await CLIFixture()
    }

    @Test("publish from an argument, from stdin and as JSON lines; history finds them by key")
    func publishAndHistory() async throws {
        let first = try await fixture.ferry(
            "publish", "orders.created", #"{"orderID":"42","total":99}"#, "--key", "order-42", "--type", "OrderCreated", "--header",
            "source=test", "--id", "evt-1")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.lines.first?.contains("OFFSET") == true)
        #expect(first.lines.last?.contains("evt-1") == true)

        let piped = try await fixture.ferry(
            "publish", "orders.created", "--key", "order-42", "--json", stdin: #"{"orderID":"42","step":2}"# + "\n")
        #expect(piped.status == 0, "\(piped.stderr)")
        let receipt = try #require(try piped.json() as? [String: Any])
        #expect(receipt.int("offset") == 1)
        #expect(receipt["topic"] as? String == "orders.created")

        let lines = """
            {"payload":{"orderID":"42","step":3}}

            {"payload":"paid","topic":"orders.paid","id":"pay-1","headers":{"by":"card"}}
            {"payload":7,"key":"order-7"}
            """
        let many = try await fixture.ferry("publish", "orders.created", "--lines", "--key", "order-42", "--json", stdin: lines)
        #expect(many.status == 0, "\(many.stderr)")
        let receipts = try #require(try many.json() as? [[String: Any]])
        #expect(receipts.map { $0["topic"] as? String } == ["orders.created", "orders.paid", "orders.created"])
        #expect(receipts[1]["id"] as? String == "pay-1")

        // The same id again is deduplicated: same offset.
        let again = try await fixture.ferry("publish", "orders.created", "{}", "--id", "evt-1", "--json")
        #expect((try again.json() as? [String: Any])?.int("offset") == 0)

        let history = try await fixture.ferry("history", "order-42", "--json")
        #expect(history.status == 0, "\(history.stderr)")
        let events = try #require(try history.json() as? [[String: Any]])
        #expect(events.map { $0["topic"] as? String } == ["orders.created", "orders.created", "orders.created", "orders.paid"])
        #expect(events[0]["type"] as? String == "OrderCreated")
        #expect((events[0]["headers"] as? [String: String])?["source"] == "test")
        #expect((events[0]["payload"] as? [String: Any])?["total"] as? Int == 99)
        #expect((events[3]["headers"] as? [String: String])?["by"] == "card")
        #expect(events[3]["payload"] as? String == "paid")

        let table = try await fixture.ferry("history", "order-42", "--limit", "2")
        #expect(table.status == 0)
        #expect(table.lines.count == 3)
        #expect(table.stdout.contains(#"{"orderID":"42","total":99}"#))

        let none = try await fixture.ferry("history", "nobody")
        #expect(none.status == 0)
        #expect(none.stdout.contains("no stored events"))
    }

    @Test("bad JSON on stdin or as the payload exits 65 with the line number, and publishes nothing")
    func badJSON() async throws {
        let bad = try await fixture.ferry("publish", "orders.created", stdin: "{not json")
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("stdin is not valid JSON"))

        let argument = try await fixture.ferry("publish", "orders.created", "{oops")
        #expect(argument.status == 65)
        #expect(argument.stderr.contains("PAYLOAD argument is not valid JSON"))

        let empty = try await fixture.ferry("publish", "orders.created", stdin: "")
        #expect(empty.status == 65)
        #expect(empty.stderr.contains("no payload"))

        let lines = try await fixture.ferry(
            "publish", "orders.created", "--lines", stdin: "{\"payload\":1}\n{\"payload\":2}\n{\"payload\": nope}\n{\"payload\":4}\n")
        #expect(lines.status == 65)
        #expect(lines.stderr.contains("stdin line 3"))
        #expect(lines.stderr.contains("nothing was published"))

        let notEnvelope = try await fixture.ferry("publish", "orders.created", "--lines", stdin: "{\"payload\":1}\n[1,2]\n")
        #expect(notEnvelope.status == 65)
        #expect(notEnvelope.stderr.contains("stdin line 2"))

        let noPayload = try await fixture.ferry("publish", "orders.created", "--lines", stdin: "{\"key\":\"k\"}\n")
        #expect(noPayload.status == 65)
        #expect(noPayload.stderr.contains("no \"payload\""))

        let stats = try await fixture.ferry("stats", "--json")
        #expect(((try stats.json() as? [String: Any])?["topics"] as? [Any])?.isEmpty == true)
    }

    @Test("--lines reports every line's outcome: the rejected lines by number, the rest published")
    func linesWithRejections() async throws {
        let stdin = """
            {"payload":1,"id":"ok-1"}
            {"payload":2,"id":"bad-2","topic":"orders..created"}

            {"payload":4,"id":"ok-4"}
            {"payload":5,"id":"bad-5","topic":"orders.>"}
            """
        let json = try await fixture.ferry("publish", "orders.created", "--lines", "--json", stdin: stdin)
        #expect(json.status == 1, "\(json.stderr)")
        let outcomes = try #require(try json.json() as? [[String: Any]])
        #expect(outcomes.map { $0.int("line") } == [1, 2, 4, 5])
        #expect(outcomes.map { $0["id"] as? String } == ["ok-1", "bad-2", "ok-4", "bad-5"])
        #expect(outcomes[0].int("offset") == 0)
        #expect(outcomes[2].int("offset") == 1)
        for rejected in [outcomes[1], outcomes[3]] {
            #expect(rejected["offset"] == nil)
            #expect((rejected["error"] as? [String: Any])?["code"] as? String == "INVALID_ARGUMENT")
        }
        #expect(json.stderr.contains("stdin line 2: ferryd rejected the event"))
        #expect(json.stderr.contains("stdin line 5: ferryd rejected the event"))
        #expect(json.stderr.contains("2 of 4 events were rejected"))

        // Again as a table: the accepted ids are deduplicated, so they keep their offsets.
        let table = try await fixture.ferry("publish", "orders.created", "--lines", stdin: stdin)
        #expect(table.status == 1)
        #expect(table.lines.first?.hasPrefix("LINE") == true)
        #expect(table.lines.contains { $0.contains("orders.created") && $0.hasSuffix("1  ok-4") })
        #expect(table.lines.contains { $0.contains("orders..created") && $0.hasSuffix("-  bad-2") })

        let stats = try await fixture.ferry("stats", "--json")
        let topics = try #require((try stats.json() as? [String: Any])?["topics"] as? [[String: Any]])
        #expect(topics.map { $0["name"] as? String } == ["orders.created"])
        #expect(topics.first?.int("events") == 2)
    }

    @Test("usage errors exit 64; a topic ferryd rejects exits 1")
    func usageAndRejection() async throws {
        let header = try await fixture.ferry("publish", "orders.created", "{}", "--header", "novalue")
        #expect(header.status == 64)
        let both = try await fixture.ferry("publish", "orders.created", "{}", "--lines")
        #expect(both.status == 64)
        let invalid = try await fixture.ferry("publish", "orders..created", "{}")
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("INVALID_ARGUMENT"))
        let pattern = try await fixture.ferry("tail", "orders.>.x", "--count", "1")
        #expect(pattern.status == 1)
        #expect(pattern.stderr.contains("INVALID_ARGUMENT"))
    }
}
