import Ferry
import Foundation
import OrderSystemKit

/// Prints what happened: orders and their states, what every handler group did (handled,
/// retried, dead-lettered), the DLQ, a saga's history, and what the workers wrote.
struct DemoReport: Sendable {
    let client: OrdersClient
    let bus: EventBus
    let layout: DemoLayout
    let say: @Sendable (String) -> Void

    /// Waits (up to a minute) until orders-api published its outbox and every group has caught
    /// up and has nothing in flight or pending (in that order: what the API published counts in
    /// the lag); with `scheduled`, also until no scheduled event waits for any group.
    static func waitUntilSettled(_ bus: EventBus, _ client: OrdersClient, scheduled: Bool = false) async -> Bool {
        await Poll.until(seconds: 60) {
            guard await client.outboxPending() == 0 else { return false }
            guard let groups = try? await bus.groups(), !groups.isEmpty else { return false }
            // Scheduled events too: the unconfirmed order's payment reminder comes due and is sent.
            return groups.allSatisfy { $0.lag == 0 && $0.inFlight == 0 && $0.pendingRetries == 0 && (!scheduled || $0.scheduled == 0) }
        }
    }

    func printOrders(_ placed: [DemoTraffic.Placed]) async throws {
        say("\n== orders")
        var byStatus: [String: Int] = [:]
        for order in placed {
            let reply = try await client.order(order.id)
            let status = reply.orderStatus ?? "?"
            byStatus[status, default: 0] += 1
            let reason = (reply.json["cancelReason"] as? String).map { "  (\($0))" } ?? ""
            say("   \(order.id)  \(order.userID.padding(toLength: 12, withPad: " ", startingAt: 0)) \(status)\(reason)")
        }
        say("   " + byStatus.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
    }

    func printGroups() async throws {
        say("\n== handler groups (counted by ferryd since it started)")
        say("   group          members  handled  retried  dead-lettered  in DLQ  lag")
        for group in try await bus.groups().sorted(by: { $0.name < $1.name }) where !group.ephemeral {
            let name = group.name.padding(toLength: 14, withPad: " ", startingAt: 0)
            say(
                "   \(name) "
                    + String(
                        format: "%7d  %7llu  %7llu  %13llu  %6d  %3llu", group.members, group.acked, group.redelivered, group.deadLettered,
                        group.deadLetters, group.lag))
        }
    }

    func printDeadLetters() async throws {
        say("\n== dead-letter queues")
        var any = false
        for group in layout.groups {
            for entry in try await bus.deadLetters(group: group) {
                any = true
                say(
                    "   [\(group) #\(entry.id)] \(entry.event.typeName) \(entry.event.key ?? "") after \(entry.attempts) attempt(s), \(entry.reason.rawValue): \(entry.lastError)"
                )
            }
        }
        if !any { say("   (empty)") }
    }

    /// The history of one order the saga compensated, from ferryd's log, then its whole trace:
    /// what every group did with each of its events (the refund's retry among them).
    func printSaga(_ placed: [DemoTraffic.Placed]) async throws {
        var compensated: [(order: DemoTraffic.Placed, types: [String])] = []
        for order in placed where order.wantsScarceItem {
            let events = try await client.events(order.id).json["events"] as? [[String: Any]] ?? []
            let types = events.compactMap { $0["type"] as? String }
            if types.contains("InventoryReservationFailed") { compensated.append((order, types)) }
        }
        // One whose payment was taken before the cancellation, so that the saga refunds it.
        guard let (order, types) = compensated.first(where: { $0.types.contains("PaymentRefunded") }) ?? compensated.first else { return }
        say("\n== saga: the history of \(order.id) (GET /api/orders/\(order.id)/events)")
        say("   " + types.joined(separator: " → "))
        let trace = try await traceWhenSettled(.key(order.id))
        say("\n== saga: its trace (ferry trace --key \(order.id)): every event, what each group did with it, and what it caused")
        say(Self.indented(trace.timeline))
    }

    /// The trace of an email the email group gave up on (it is in the DLQ).
    func printDeadLetterTrace() async throws {
        guard let entry = try await bus.deadLetters(group: "email").first else { return }
        let trace = try await traceWhenSettled(.event(id: entry.event.id))
        say("\n== the email that went to the dead-letter queue: its trace (ferry trace \(entry.event.id))")
        say(Self.indented(trace.timeline))
    }

    /// A trace, asked for again for a few seconds while ferryd's trace writer catches up with
    /// the last steps (it writes on its own thread, after the fact).
    private func traceWhenSettled(_ selector: EventTrace.Selector) async throws -> EventTrace {
        var trace = try await bus.trace(selector)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            let again = try await bus.trace(selector)
            if again == trace { break }
            trace = again
        }
        return trace
    }

    /// What the Python loyalty worker says it did (its `summary.json`).
    private func printLoyalty() {
        let path = URL(fileURLWithPath: layout.directory("loyalty")).appendingPathComponent("summary.json")
        guard let data = try? Data(contentsOf: path),
            let summary = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            say("   loyalty worker (Python): no summary.json in \(layout.directory("loyalty"))")
            return
        }
        let actions = (summary["actions"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        say(
            "   loyalty worker (Python): \(summary["points"] ?? 0) points for \(summary["awards"] ?? 0) shipped orders of "
                + "\(summary["users"] ?? 0) users (LoyaltyPointsAwarded published for each); users' actions counted in "
                + "batches: \(actions.joined(separator: ", "))")
    }

    private static func indented(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "   " + $0 }.joined(separator: "\n")
    }

    func printOutputs() {
        let emails = (try? FileManager.default.contentsOfDirectory(atPath: layout.emailOutbox))?.filter { $0.hasSuffix(".eml") } ?? []
        say("\n== what the workers wrote")
        say("   email outbox: \(emails.count) .eml files in \(layout.emailOutbox)")
        let reminders = emails.filter { name in
            (try? String(contentsOfFile: URL(fileURLWithPath: layout.emailOutbox).appendingPathComponent(name).path, encoding: .utf8))?
                .contains("is waiting for you") ?? false
        }
        say("   payment reminders: \(reminders.count) (scheduled at every OrderCreated, cancelled by OrderConfirmed or OrderCancelled)")
        if layout.pythonWorker != nil { printLoyalty() }
        say(
            "   state: "
                + (["inventory", "payment", "fulfillment", "notifications", "audit", "analytics", "orders-api"]
                + (layout.pythonWorker != nil ? ["loyalty"] : [])).map { layout.directory($0) }
                .joined(separator: ", "))
    }
}
