import Ferry
import FerryTestSupport
import Foundation
import OrderSystemKit
import Testing

/// The payment reminder: scheduled by the email worker when an order is placed, cancelled when
/// the order is confirmed or cancelled, sent when neither happened in time.
@Suite("Payment reminders (scheduled events)", .serialized)
struct PaymentReminderTests {
    @Test("an order left unconfirmed gets its payment reminder once it is due; a confirmed or cancelled one never does")
    func reminderForUnconfirmedOrdersOnly() async throws {
        let system = try await OrderSystemHarness()
        try system.start("email-worker", ["--payment-reminder-after", "2s"])
        let client = try await system.startAPI()
        try await system.waitForGroups(["email", "payment-reminders"])

        let confirmed = try await system.placeOrder(user: "user-confirms")
        let cancelled = try await system.placeOrder(user: "user-cancels")
        let forgotten = try await system.placeOrder(user: "user-forgets")
        let placedAt = Date()
        #expect(try await client.confirm(confirmed).status == 200)
        #expect(try await client.cancel(cancelled, reason: "changed my mind").status == 200)

        let outbox = system.directory("email-worker").appendingPathComponent("outbox")
        let reminders: @Sendable () -> [String] = {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []
            return names.filter { $0.hasSuffix(".eml") }.compactMap { name in
                try? String(contentsOf: outbox.appendingPathComponent(name), encoding: .utf8)
            }.filter { $0.contains("is waiting for you") }
        }
        #expect(await Wait.until(timeout: .seconds(30)) { reminders().count == 1 }, "no reminder was sent")
        #expect(Date().timeIntervalSince(placedAt) >= 1.9, "the reminder went out before it was due")
        let reminder = try #require(reminders().first)
        #expect(reminder.contains(forgotten))
        #expect(await system.waitUntilSettled())
        let group = try #require(try await system.group("payment-reminders"))
        #expect(group.scheduled == 0, "nothing left waiting: two reminders cancelled, one sent")
        #expect(reminders().count == 1, "only the forgotten order's reminder: \(reminders().count)")
        await system.bus.close()
    }
}
