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
    /// up and has nothing in flight or pending (in that order: what the API published counts in the lag).
    static func waitUntilSettled(_ bus: EventBus, _ client: OrdersClient) async -> Bool {
        await Poll.until(seconds: 60) {
            guard await client.outboxPending() == 0 else { return false }
            guard let groups = try? await bus.groups(), !groups.isEmpty else { return false }
            return groups.allSatisfy { $0.lag == 0 && $0.inFlight == 0 && $0.pendingRetries == 0 }
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
        for group in DemoLayout.groups {
            for entry in try await bus.deadLetters(group: group) {
                any = true
                say(
                    "   [\(group) #\(entry.id)] \(entry.event.typeName) \(entry.event.key ?? "") after \(entry.attempts) attempt(s), \(entry.reason.rawValue): \(entry.lastError)"
                )
            }
        }
        if !any { say("   (empty)") }
    }

    /// The history of one order the saga compensated, from ferryd's log.
    func printSaga(_ placed: [DemoTraffic.Placed]) async throws {
        for order in placed where order.wantsScarceItem {
            let events = try await client.events(order.id).json["events"] as? [[String: Any]] ?? []
            let types = events.compactMap { $0["type"] as? String }
            guard types.contains("InventoryReservationFailed") else { continue }
            say("\n== saga: the history of \(order.id) (GET /api/orders/\(order.id)/events)")
            say("   " + types.joined(separator: " → "))
            // With security, ferryd stamps each event with the principal that published it.
            let publishers = events.compactMap { $0["publishedBy"] as? String }
            if publishers.count == events.count {
                say("   published by: " + publishers.joined(separator: " → "))
            }
            return
        }
    }

    func printOutputs() {
        let emails = (try? FileManager.default.contentsOfDirectory(atPath: layout.emailOutbox))?.filter { $0.hasSuffix(".eml") } ?? []
        say("\n== what the workers wrote")
        say("   email outbox: \(emails.count) .eml files in \(layout.emailOutbox)")
        say(
            "   state: "
                + ["inventory", "payment", "fulfillment", "notifications", "audit", "analytics", "orders-api"].map { layout.directory($0) }
                .joined(separator: ", "))
    }
}
