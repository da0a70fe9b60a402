import FerryTestSupport
import Foundation
import Testing

/// Hostile and broken HTTP input gets a 4xx JSON error with a protocol code, and ferryd keeps
/// serving.
@Suite("HTTP API: bad input")
struct BadInputTests {
    @Test("garbage JSON, huge bodies, bad topics, out-of-range numbers, '..' paths, long polls, unknown routes: 4xx JSON; ferryd keeps serving")
    func refusals() async throws {
        let (ferryd, http) = try await PublishConsumeTests.start()
        var cases: [(String, HTTPTestClient.Reply, Int, String)] = []
        func check(_ name: String, _ reply: HTTPTestClient.Reply, _ status: Int, _ code: String) { cases.append((name, reply, status, code)) }

        check("garbage ack body", try await http.post("/api/v1/groups/g/members/m/ack", json: "{not json"), 400, "INVALID_ARGUMENT")
        check("garbage replay body", try await http.post("/api/v1/groups/g/replay", json: "[1,2"), 400, "INVALID_ARGUMENT")
        check("missing field", try await http.post("/api/v1/groups/g/members/m/ack", json: "{}"), 400, "INVALID_ARGUMENT")
        let huge = Data(count: 9 << 20)
        check(
            "huge body", try await http.request("POST", "/api/v1/topics/big/events", body: huge, headers: ["Content-Type": "application/octet-stream"]),
            413, "PAYLOAD_TOO_LARGE")
        check("bad topic characters", try await http.publish(topic: "bad%20topic!", payload: "{}"), 400, "INVALID_ARGUMENT")
        check("empty topic token", try await http.publish(topic: "a..b", payload: "{}"), 400, "INVALID_ARGUMENT")
        check("dot-dot topic", try await http.publish(topic: "%2E%2E", payload: "{}"), 400, "INVALID_ARGUMENT")
        check("negative max", try await http.post("/api/v1/groups/g/members/m/fetch?topics=t&max=-1"), 400, "INVALID_ARGUMENT")
        check("negative limit", try await http.get("/api/v1/groups/g/dead-letters?limit=-5"), 400, "INVALID_ARGUMENT")
        check("huge limit", try await http.get("/api/v1/groups/g/dead-letters?limit=1000000"), 400, "INVALID_ARGUMENT")
        check("long poll past the bound", try await http.post("/api/v1/groups/g/members/m/fetch?topics=t&wait=31"), 400, "INVALID_ARGUMENT")
        check("not a number", try await http.post("/api/v1/groups/g/members/m/fetch?topics=t&max=ten"), 400, "INVALID_ARGUMENT")
        check("bad delivery id", try await http.post("/api/v1/groups/g/members/m/deliveries/xyz/ack"), 400, "INVALID_ARGUMENT")
        check("unknown member", try await http.post("/api/v1/groups/g/members/nobody/deliveries/1/ack"), 404, "UNKNOWN_SUBSCRIPTION")
        check("unknown group", try await http.get("/api/v1/groups/none/dead-letters"), 404, "UNKNOWN_GROUP")
        check("bad time filter", try await http.get("/api/v1/groups/g/dead-letters?since=yesterday"), 400, "INVALID_ARGUMENT")
        check("unknown route", try await http.get("/api/v1/nothing/here"), 404, "NOT_FOUND")
        check("bad pattern", try await http.post("/api/v1/groups/g/members/m/fetch?topics=a.>.b"), 400, "INVALID_ARGUMENT")
        let tooMany = String(repeating: #"{"payload":{}}"# + "\n", count: 1001)
        check(
            "batch too large",
            try await http.request("POST", "/api/v1/topics/t/events", body: Data(tooMany.utf8), headers: ["Content-Type": "application/x-ndjson"]),
            413, "BATCH_TOO_LARGE")
        check("requeue without ids or all", try await http.post("/api/v1/groups/g/dead-letters/requeue", json: "{}"), 400, "INVALID_ARGUMENT")
        check("cross-site form", try await http.post("/api/v1/topics/t/events", json: "{}", headers: ["Origin": "http://evil.example"]), 403, "FORBIDDEN")

        for (name, reply, status, code) in cases {
            #expect(reply.status == status, "\(name): \(reply.status) \(reply.text)")
            #expect(reply.errorCode == code, "\(name): \(reply.text)")
            #expect(reply.headers["content-type"]?.hasPrefix("application/json") == true, "\(name)")
        }
        // Still serving, and nothing bad was stored.
        #expect(try await http.get("/healthz").status == 200)
        #expect(try await http.publish(topic: "good", payload: "{}").status == 201)
        let topics = (try await http.get("/api/v1/topics").json["topics"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(topics == ["good"])
        withExtendedLifetime(ferryd) {}
    }

    @Test("a long poll with nothing to deliver answers empty at its wait, not before and not never")
    func longPollEnds() async throws {
        let (ferryd, http) = try await PublishConsumeTests.start()
        let started = ContinuousClock.now
        let deliveries = try await http.fetch(group: "idle", member: "m", query: "topics=quiet&wait=1")
        let took = ContinuousClock.now - started
        #expect(deliveries.isEmpty)
        #expect(took >= .milliseconds(900), "the poll waited \(took)")
        withExtendedLifetime(ferryd) {}
    }
}
