import Ferry
import FerryTestSupport
import Foundation
import Testing

/// Traces over HTTP: the JSON routes and the console's timeline page, against a real ferryd.
@Suite("HTTP API: event traces")
struct TraceRouteTests {
    @Test("an event nacked then acked by an HTTP member: its trace by id, key and correlation, paged, and the console's timeline")
    func traceOverHTTP() async throws {
        let ferryd = try await Ferryd()
        let http = HTTPTestClient(base: try #require(await ferryd.httpBase(), "the HTTP listener did not start"))
        #expect(try await http.fetch(group: "email", member: "m1", query: "topics=orders.created&wait=0").isEmpty)
        let published = try await http.publish(
            topic: "orders.created", payload: #"{"total":99}"#,
            headers: ["Ferry-Event-Id": "order-42-created", "Ferry-Key": "order-42", "Ferry-Type": "OrderCreated"])
        #expect(published.status == 201, "\(published.text)")
        let first = try #require(try await http.fetch(group: "email", member: "m1", query: "wait=5").first)
        let firstID = try #require(first["delivery_id"] as? Int)
        let nacked = try await http.post(
            "/api/v1/groups/email/members/m1/deliveries/\(firstID)/nack", json: #"{"error":"SMTP 451: try later","delay_ms":50}"#)
        #expect(nacked.status == 200, "\(nacked.text)")
        var again: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while again.isEmpty, ContinuousClock.now < deadline { again = try await http.fetch(group: "email", member: "m1", query: "wait=2") }
        let secondID = try #require(again.first?["delivery_id"] as? Int)
        #expect(try await http.post("/api/v1/groups/email/members/m1/deliveries/\(secondID)/ack").status == 200)

        // The trace is written on ferryd's own thread: ask until the ack is in it.
        var steps: [[String: Any]] = []
        let deadlineForTrace = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadlineForTrace {
            let reply = try await http.get("/api/v1/events/order-42-created/trace")
            steps = (reply.json["events"] as? [[String: Any]])?.first?["steps"] as? [[String: Any]] ?? []
            if (steps.last?["kind"] as? String) == "acked" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(steps.map { $0["kind"] as? String } == ["delivered", "nacked", "retry_scheduled", "delivered", "acked"])
        #expect(steps[1]["detail"] as? String == "SMTP 451: try later")
        #expect(steps[0]["actor"] as? String == "http:m1")
        #expect(steps[2]["delay_milliseconds"] as? Int == 50)
        let byKey = try await http.get("/api/v1/keys/order-42/trace")
        #expect((byKey.json["events"] as? [[String: Any]])?.count == 1 && byKey.json["sampling"] as? String == "all")
        let byCorrelation = try await http.get("/api/v1/correlations/order-42-created/trace?limit=1")
        #expect((byCorrelation.json["events"] as? [[String: Any]])?.count == 1 && byCorrelation.json["more"] as? Bool == false)
        #expect(try await http.get("/api/v1/events/never-published/trace").json["events"] as? [Any] != nil)
        #expect(try await http.get("/api/v1/events/order-42-created/trace?limit=0").status == 400)

        let page = try await http.get("/console/trace?event=order-42-created")
        #expect(page.status == 200)
        #expect(page.text.contains("SMTP 451: try later") && page.text.contains("retry scheduled: attempt 2"))
        #expect(page.text.contains("acked by http:m1"))
        let history = try await http.get("/console/history?key=order-42")
        #expect(history.text.contains("/console/trace?event=order-42-created") && history.text.contains("/console/trace?key=order-42"))
        #expect(try await http.get("/console/trace?event=nope").text.contains("No trace"))
    }
}
