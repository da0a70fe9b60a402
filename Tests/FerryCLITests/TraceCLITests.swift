import Ferry
import FerryTestSupport
import Foundation
import Synchronization
import Testing

@Suite("ferry trace", .serialized, .timeLimit(.minutes(2)))
struct TraceCLITests {
    @Test("the tree of an event, its retry and the event it caused; --json; an unknown id exits 2 and says why; one selector only")
    func traceTree() async throws {
        let fixture = try await CLIFixture()
        let attempts = Atomic<Int>(0)
        let worker = Worker(name: "email-worker", configuration: .init(endpoint: fixture.ferryd.endpoint, clientName: "mailer-1"))
        var options = HandlerGroupOptions()
        options.retry = RetryOptions(initialDelay: .milliseconds(50), multiplier: 2, maxDelay: .seconds(1), maxAttempts: 5, jitter: 0)
        worker.group("email", options: options) { group in
            group.onRaw(topic: "orders.created") { event, context in
                if attempts.add(1, ordering: .relaxed).newValue == 1 { throw TraceCLIFailure() }
                try await context.publish(ReceiptSent(order: 42), id: "receipt-42")
            }
        }
        let running = Task { try await worker.run() }
        await worker.waitUntilReady()
        let published = try await fixture.ferry("publish", "orders.created", #"{"order":42}"#, "--key", "order-42", "--type", "OrderCreated", "--id", "order-42")
        #expect(published.status == 0, "\(published.stderr)")
        // The trace is written a moment after the fact: ask until the follow-up is in it.
        var tree = try await fixture.ferry("trace", "order-42")
        let deadline = ContinuousClock.now + .seconds(10)
        while !(tree.stdout.contains("caused ReceiptSent") && tree.stdout.contains("acked by mailer-1")), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            tree = try await fixture.ferry("trace", "order-42")
        }
        worker.stop()
        try await running.value
        #expect(tree.status == 0, "\(tree.stderr)")
        let lines = tree.lines
        #expect(lines.first?.hasPrefix("OrderCreated order-42  orders.created@0  key order-42  published +0 µs by ferry-cli") == true, "\(tree.stdout)")
        let steps = lines.filter { $0.hasPrefix("  [email] ") }.map { $0.split(separator: " ", maxSplits: 3).last.map(String.init) ?? "" }
        #expect(steps.count == 5, "\(tree.stdout)")
        #expect(steps.first == "delivered to mailer-1 (attempt 1)")
        #expect(steps.contains { $0.hasPrefix("failed in mailer-1: the template is missing") })
        #expect(steps.contains { $0.hasPrefix("retry scheduled: attempt 2 in 50.0 ms") })
        #expect(steps.last == "acked by mailer-1")
        #expect(lines.contains { $0.hasPrefix("    └─ caused ReceiptSent receipt-42  emails.sent@0") })

        let json = try await fixture.ferry("trace", "--key", "order-42", "--json")
        let events = try #require((try json.json() as? [String: Any])?["events"] as? [[String: Any]])
        #expect(events.map { $0["id"] as? String } == ["order-42", "receipt-42"])
        #expect((events.first?["steps"] as? [[String: Any]])?.map { $0["kind"] as? String }.first == "delivered")

        let unknown = try await fixture.ferry("trace", "never-published")
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("no trace of event 'never-published'"))
        #expect(try await fixture.ferry("trace", "order-42", "--key", "order-42").status == 64)
        #expect(try await fixture.ferry("trace").status == 64)
    }
}

struct ReceiptSent: Event {
    static let topic = "emails.sent"
    let order: Int
}

struct TraceCLIFailure: Error, CustomStringConvertible {
    var description: String { "the template is missing" }
}
