import Ferry
import FerryTestSupport
import Foundation
import Testing

/// The HTTP API against a real ferryd: what HTTP publishes, ZeroMQ consumers get, and the
/// reverse; settles by delivery id; idempotent publishes.
@Suite("HTTP API: publish and consume across HTTP and ZeroMQ")
struct PublishConsumeTests {
    static func start(_ arguments: [String] = ["--storage", "memory"]) async throws -> (Ferryd, HTTPTestClient) {
        let ferryd = try await Ferryd(arguments)
        let base = try #require(await ferryd.httpBase(), "the HTTP listener did not start")
        return (ferryd, HTTPTestClient(base: base))
    }

    @Test("events published over HTTP (one, and an NDJSON batch) reach a ZeroMQ member with their fields")
    func httpToZeroMQ() async throws {
        let (ferryd, http) = try await Self.start()
        let bus = try EventBus(configuration: ClientConfiguration(endpoint: ferryd.endpoint))
        let consumer = try await bus.consumer(group: "zmq-side", patterns: ["http.orders"], maxInFlight: 10)
        let single = try await http.publish(
            topic: "http.orders", payload: #"{"order":1}"#,
            headers: ["Ferry-Event-Id": "order-1", "Ferry-Key": "customer-7", "Ferry-Type": "OrderCreated", "Ferry-Header-Trace": "t-1"])
        #expect(single.status == 201, "\(single.text)")
        #expect(single.json["offset"] as? Int == 0)
        let batch = """
            {"id":"order-2","key":"customer-7","type":"OrderCreated","payload":{"order":2}}
            {"id":"bytes-1","payload_base64":"AAEC","content_type":"application/octet-stream"}

            """
        let reply = try await http.request(
            "POST", "/api/v1/topics/http.orders/events", body: Data(batch.utf8), headers: ["Content-Type": "application/x-ndjson"])
        #expect(reply.status == 200)
        let lines = reply.text.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.map { $0?["offset"] as? Int } == [1, 2], "\(reply.text)")

        var received: [PulledDelivery] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while received.count < 3, ContinuousClock.now < deadline { received += try await consumer.fetch(max: 10, wait: .seconds(1)) }
        #expect(received.map(\.event.id) == ["order-1", "order-2", "bytes-1"])
        let first = try #require(received.first)
        #expect(first.event.key == "customer-7" && first.event.typeName == "OrderCreated" && first.event.headers["trace"] == "t-1")
        #expect(first.event.payload == Data(#"{"order":1}"#.utf8))
        #expect(received.last?.event.payload == Data([0, 1, 2]))
        #expect(consumer.ack(received.map(\.deliveryID)).isEmpty)
        await consumer.close()
        await bus.close()
    }

    @Test("events published over ZeroMQ reach an HTTP member; ack, nack with a delay, dead-letter by delivery id")
    func zeroMQToHTTP() async throws {
        let (ferryd, http) = try await Self.start()
        // The first fetch joins the group (from now on).
        #expect(try await http.fetch(group: "web", member: "w1", query: "topics=zmq.orders&wait=0").isEmpty)
        let bus = try EventBus(configuration: ClientConfiguration(endpoint: ferryd.endpoint))
        _ = try await bus.publish(raw: (1...3).map { RawEvent(topic: "zmq.orders", id: "e\($0)", key: "k\($0)", type: "OrderCreated", payload: Data(#"{"n":\#($0)}"#.utf8)) })
        var deliveries: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while deliveries.count < 3, ContinuousClock.now < deadline {
            deliveries += try await http.fetch(group: "web", member: "w1", query: "max=10&wait=2")
        }
        let events = deliveries.map { $0["event"] as? [String: Any] ?? [:] }
        #expect(events.map { $0["id"] as? String } == ["e1", "e2", "e3"])
        #expect((events.first?["payload"] as? [String: Any])?["n"] as? Int == 1, "JSON payloads are embedded as JSON")
        let ids = deliveries.compactMap { $0["delivery_id"] as? UInt64 ?? ($0["delivery_id"] as? Int).map(UInt64.init) }
        try #require(ids.count == 3)

        #expect(try await http.post("/api/v1/groups/web/members/w1/deliveries/\(ids[0])/ack").status == 200)
        #expect(try await http.post("/api/v1/groups/web/members/w1/deliveries/\(ids[0])/ack").status == 404, "settled already")
        #expect(try await http.post("/api/v1/groups/web/members/w1/deliveries/\(ids[1])/nack", json: #"{"delay_ms": 10, "error": "try later"}"#).status == 200)
        #expect(try await http.post("/api/v1/groups/web/members/w1/deliveries/\(ids[2])/nack", json: #"{"dead_letter": true, "error": "poison"}"#).status == 200)

        var retried: [[String: Any]] = []
        let retryDeadline = ContinuousClock.now + .seconds(10)
        while retried.isEmpty, ContinuousClock.now < retryDeadline { retried = try await http.fetch(group: "web", member: "w1", query: "wait=2") }
        let retry = try #require(retried.first)
        #expect((retry["event"] as? [String: Any])?["id"] as? String == "e2")
        #expect(retry["attempt"] as? Int == 2 && retry["last_error"] as? String == "try later")
        let retryID = try #require(retry["delivery_id"] as? Int)
        let acked = try await http.post("/api/v1/groups/web/members/w1/ack", json: #"{"delivery_ids": [\#(retryID), 12345]}"#)
        #expect(acked.json["settled"] as? Int == 1 && acked.json["unknown"] as? [Int] == [12345])

        let dead = try await http.get("/api/v1/groups/web/dead-letters")
        let entries = dead.json["entries"] as? [[String: Any]] ?? []
        #expect(entries.count == 1 && entries.first?["last_error"] as? String == "poison")
        let group = try await http.get("/api/v1/groups/web").json
        #expect(group["in_flight"] as? Int == 0 && group["dead_letters"] as? Int == 1 && group["lag"] as? Int == 0, "\(group)")
        #expect(try await http.request("DELETE", "/api/v1/groups/web/members/w1").status == 204)
        await bus.close()
        withExtendedLifetime(ferryd) {}
    }

    @Test("a publish repeated with the same event id is stored once: the same offset comes back")
    func idempotent() async throws {
        let (ferryd, http) = try await Self.start()
        let first = try await http.publish(topic: "dedup", payload: "{}", headers: ["Ferry-Event-Id": "same"])
        let again = try await http.publish(topic: "dedup", payload: "{}", headers: ["Ferry-Event-Id": "same"])
        let other = try await http.publish(topic: "dedup", payload: "{}", headers: ["Ferry-Event-Id": "other"])
        #expect(first.json["offset"] as? Int == 0 && again.json["offset"] as? Int == 0 && other.json["offset"] as? Int == 1)
        let topics = try await http.get("/api/v1/topics").json["topics"] as? [[String: Any]] ?? []
        #expect(topics.first { $0["name"] as? String == "dedup" }?["events"] as? Int == 2)
        withExtendedLifetime(ferryd) {}
    }

    @Test("dead letters: filters, paging, show one, requeue the matching ones, purge by id; replay; key history")
    func administration() async throws {
        // The durable log: replay and history read events the group settled.
        let (ferryd, http) = try await Self.start([])
        _ = try await http.fetch(group: "ops", member: "m", query: "topics=adm&wait=0")
        for (index, type) in ["A", "B", "A", "B", "A"].enumerated() {
            _ = try await http.publish(topic: "adm", payload: #"{"i":\#(index)}"#, headers: ["Ferry-Type": type, "Ferry-Key": "key-\(index % 2)"])
        }
        var fetched: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while fetched.count < 5, ContinuousClock.now < deadline { fetched += try await http.fetch(group: "ops", member: "m", query: "max=5&wait=2") }
        for delivery in fetched {
            let id = try #require(delivery["delivery_id"] as? Int)
            let type = (delivery["event"] as? [String: Any])?["type"] as? String ?? ""
            _ = try await http.post("/api/v1/groups/ops/members/m/deliveries/\(id)/nack", json: #"{"dead_letter": true, "error": "failed \#(type)"}"#)
        }
        // Settles are not answered: wait until the broker took all five.
        let dead = await Wait.until(timeout: .seconds(10)) {
            (try? await http.get("/api/v1/groups/ops").json["dead_letters"] as? Int) == 5
        }
        try #require(dead)
        let all = try await http.get("/api/v1/groups/ops/dead-letters?limit=2")
        #expect((all.json["entries"] as? [[String: Any]])?.count == 2)
        let next = try #require(all.json["next_after"] as? Int)
        let rest = try await http.get("/api/v1/groups/ops/dead-letters?after=\(next)").json["entries"] as? [[String: Any]] ?? []
        #expect(rest.count == 3)
        let onlyA = try await http.get("/api/v1/groups/ops/dead-letters?type=A").json["entries"] as? [[String: Any]] ?? []
        #expect(onlyA.count == 3)
        let byError = try await http.get("/api/v1/groups/ops/dead-letters?error=FAILED%20b").json["entries"] as? [[String: Any]] ?? []
        #expect(byError.count == 2, "error text matches case-insensitively")
        let byKey = try await http.get("/api/v1/groups/ops/dead-letters?key=key-0&type=A").json["entries"] as? [[String: Any]] ?? []
        #expect(byKey.count == 3)
        let future = try await http.get("/api/v1/groups/ops/dead-letters?since=2100-01-01T00:00:00Z").json["entries"] as? [[String: Any]] ?? []
        #expect(future.isEmpty)
        let one = try await http.get("/api/v1/groups/ops/dead-letters/1")
        #expect(one.status == 200 && one.json["id"] as? Int == 1)
        #expect(try await http.get("/api/v1/groups/ops/dead-letters/99").status == 404)

        let requeued = try await http.post("/api/v1/groups/ops/dead-letters/requeue", json: #"{"all": true, "type": "B"}"#)
        #expect(requeued.json["count"] as? Int == 2, "\(requeued.text)")
        let purged = try await http.post("/api/v1/groups/ops/dead-letters/purge", json: #"{"ids": [1]}"#)
        #expect(purged.json["count"] as? Int == 1)
        let left = try await http.get("/api/v1/groups/ops/dead-letters").json["entries"] as? [[String: Any]] ?? []
        #expect(left.count == 2)
        var again: [[String: Any]] = []
        let againDeadline = ContinuousClock.now + .seconds(10)
        while again.count < 2, ContinuousClock.now < againDeadline { again += try await http.fetch(group: "ops", member: "m", query: "max=5&wait=2") }
        #expect(again.map { ($0["event"] as? [String: Any])?["type"] as? String } == ["B", "B"], "requeued events are delivered again")

        let replay = try await http.post("/api/v1/groups/ops/replay", json: #"{"from": "beginning"}"#)
        #expect((replay.json["cursors"] as? [String: Any])?["adm"] as? Int == 0, "\(replay.text)")
        let history = try await http.get("/api/v1/keys/key-1/history").json["events"] as? [[String: Any]] ?? []
        #expect(history.count == 2)
        withExtendedLifetime(ferryd) {}
    }
}
