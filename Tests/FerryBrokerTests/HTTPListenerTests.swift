import FerryProtocol
import FerryTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// ferryd's HTTP side against a real ferryd: probes and the Prometheus endpoint.
@Suite("HTTP: /metrics, /healthz and /readyz", .serialized)
struct HTTPListenerTests {
    /// A ferryd with its HTTP listener on an ephemeral loopback port.
    static func start(_ arguments: [String] = []) async throws -> (ferryd: Ferryd, base: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferryd-http-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let ferryd = try await Ferryd(["--http-endpoint", "127.0.0.1:0", "--http-endpoint-file", file] + arguments)
        let listening = await Wait.until(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: file) }
        try #require(listening, "the HTTP listener did not start")
        return (ferryd, "http://" + (try String(contentsOfFile: file, encoding: .utf8)))
    }

    static func get(_ url: String) async throws -> (status: Int, body: String, contentType: String) {
        let (data, response) = try await URLSession.shared.data(from: try #require(URL(string: url)))
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, String(decoding: data, as: UTF8.self), http.value(forHTTPHeaderField: "Content-Type") ?? "")
    }

    @Test("/healthz answers, /readyz says ready, /metrics is Prometheus text with the broker's counters")
    func probesAndMetrics() async throws {
        let (ferryd, base) = try await Self.start()
        let health = try await Self.get(base + "/healthz")
        #expect(health.status == 200)
        let ready = try await Self.get(base + "/readyz")
        #expect(ready.status == 200 && ready.body.contains(#""ready":true"#), "\(ready.body)")

        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            try client.publish(topic: "http.metrics", id: "e1")
            guard case .publishResult(let result)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(result.confirmed == [1])
        }
        let metrics = try await Self.get(base + "/metrics")
        #expect(metrics.status == 200 && metrics.contentType.hasPrefix("text/plain"))
        #expect(metrics.body.contains("# TYPE ferry_events_published_total counter"))
        #expect(metrics.body.split(separator: "\n").contains("ferry_events_published_total 1"), "\(metrics.body)")
        let lines = metrics.body.split(separator: "\n")
        #expect(lines.contains(#"ferry_events_rejected_total{code="STORAGE_FULL"} 0"#), "a store refusal counter exists before the first")
        let readyGauge = await Wait.until(timeout: .seconds(5)) { (try? await Self.get(base + "/metrics"))?.body.contains("\nferry_ready 1") == true }
        #expect(readyGauge)
        let missing = try await Self.get(base + "/nope")
        #expect(missing.status == 404)
    }

    @Test("per-group gauges: members, in flight, retries, dead letters and lag per topic; stored bytes per topic; confirms, fsyncs and their durations")
    func groupMetrics() async throws {
        let (ferryd, base) = try await Self.start()
        try await onOwnThread {
            // The member stays connected (and unsettled) while the metrics are read.
            let member = try RawClient(endpoint: ferryd.endpoint)
            var subscribe = Subscribe()
            subscribe.group = "metered"
            subscribe.patterns = ["http.metered"]
            subscribe.maxInFlight = 1
            _ = try member.subscribe(.subscribe(subscribe))
            let publisher = try RawClient(endpoint: ferryd.endpoint)
            for index in 0..<3 {
                try publisher.publish(topic: "http.metered", id: "e\(index)")
                guard case .publishResult? = try publisher.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            }
            // The first delivery is declared poison: dead-lettered, the next one takes its credit.
            guard case .deliver(let deliver)? = try member.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            var settle = Settle()
            var nack = Nack()
            nack.deliveryID = deliver.deliveries[0].deliveryID
            nack.deadLetter = true
            nack.error = "poison"
            settle.nacks = [nack]
            _ = try member.send(.settle(settle))
            // One event dead, one in flight (credit 1), one behind it; the gauges follow within a second.
            let expected: [(String, Double)] = [
                (#"ferry_consumer_group_members{group="metered"}"#, 1),
                (#"ferry_consumer_group_in_flight_messages{group="metered"}"#, 1),
                (#"ferry_consumer_group_retry_queue_messages{group="metered"}"#, 0),
                (#"ferry_consumer_group_dead_letter_messages{group="metered"}"#, 1),
                (#"ferry_consumer_group_lag_messages{group="metered",topic="http.metered"}"#, 1),
                ("ferry_events_confirmed_total", 3),
            ]
            var last = ""
            let seen = try Wait.untilSync(timeout: .seconds(10)) {
                last = try Self.getSync(base + "/metrics")
                var values: [String: Double] = [:]
                for line in last.split(separator: "\n") where !line.hasPrefix("#") {
                    let parts = line.split(separator: " ")
                    if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
                }
                return expected.allSatisfy { values[$0.0] == $0.1 } && values["ferry_publish_to_confirm_seconds_count"] == 3
                    && values[#"ferry_topic_stored_bytes{topic="http.metered"}"#, default: 0] > 0
                    && values["ferry_fsync_duration_seconds_count", default: 0] >= 1
            }
            #expect(seen, "\(last.split(separator: "\n").filter { $0.contains("consumer_group") || $0.contains("confirm") })")
            withExtendedLifetime(member) {}
        }
    }

    /// A GET that blocks its thread (for code that owns a socket on it).
    static func getSync(_ url: String) throws -> String {
        let result = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: URL(string: url)!) { data, _, _ in
            result.withLock { $0 = data.map { String(decoding: $0, as: UTF8.self) } }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 5)
        return result.withLock { $0 } ?? ""
    }

    @Test("a store that refuses publishes makes /readyz 503 with the reason, and ready again once it stores")
    func unreadyWhileRefusing() async throws {
        let (ferryd, base) = try await Self.start(["--storage", "memory", "--max-stored-bytes", "400"])
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            var publish = Publish()
            var item = PublishItem()
            item.sequence = 1
            item.event.topic = "http.full"
            item.event.id = "big"
            item.event.payload = Data(repeating: 7, count: 1000)
            publish.items = [item]
            try client.send(.publish(publish))
            guard case .publishResult(let result)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(result.rejected.first?.code == .storageFull)
        }
        // The broker hands its health over at its next housekeeping (every 100 ms).
        let sawUnready = await Wait.until(timeout: .seconds(5)) {
            guard let answer = try? await Self.get(base + "/readyz") else { return false }
            return answer.status == 503 && answer.body.contains("STORAGE_FULL")
        }
        #expect(sawUnready, "/readyz did not say 503 with STORAGE_FULL")
        // Refusals are remembered for a few seconds: with none since, it is ready again.
        let readyAgain = await Wait.until(timeout: .seconds(15)) { (try? await Self.get(base + "/readyz"))?.status == 200 }
        #expect(readyAgain)
    }

    @Test("ferryd refuses an HTTP listener off loopback without security")
    func loopbackOnly() async throws {
        let process = try ManagedProcess(
            product: "ferryd", arguments: ["--storage", "memory", "--endpoint", "tcp://127.0.0.1:0", "--http-endpoint", "0.0.0.0:0"],
            captureErrors: true)
        let status = await process.waitForExit(timeout: .seconds(20))
        #expect(status != nil && status != 0)
        #expect(process.outputLines.joined().contains("refusing to serve HTTP at 0.0.0.0:0 without security"))
    }
}
