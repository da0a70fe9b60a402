import Ferry
import Foundation
import OrderEvents
import OrderSystemKit

/// The group `payment-reminders`: schedules each order's payment reminder when it is placed,
/// and cancels it when the order is confirmed or cancelled first. ferryd keeps the reminder
/// (across restarts) and delivers it to the group `email` only if nobody cancelled it by then.
enum PaymentReminders {
    static func register(on worker: Worker, options: HandlerGroupOptions, after delay: Duration, log: HandlerLog) {
        worker.group("payment-reminders", options: options) { group in
            group.on(OrderCreated.self) { event, context in
                try await log.handle("scheduling the payment reminder of order \(event.orderID)", context) {
                    let reminder = PaymentReminderDue.with {
                        $0.orderID = event.orderID
                        $0.userID = event.userID
                        $0.totalCents = event.totalCents
                        $0.currency = event.currency
                        $0.orderCreatedAt = event.createdAt
                    }
                    // One id per order: a redelivered OrderCreated confirms the same reminder.
                    _ = try await context.publish(reminder, id: PaymentReminderDue.id(forOrder: event.orderID), schedule: .after(delay))
                }
            }
            group.on(OrderConfirmed.self) { event, context in
                try await log.handle("cancelling the payment reminder of confirmed order \(event.orderID)", context) {
                    _ = try await context.cancelScheduled(topic: PaymentReminderDue.topic, id: PaymentReminderDue.id(forOrder: event.orderID))
                }
            }
            group.on(OrderCancelled.self) { event, context in
                try await log.handle("cancelling the payment reminder of cancelled order \(event.orderID)", context) {
                    _ = try await context.cancelScheduled(topic: PaymentReminderDue.topic, id: PaymentReminderDue.id(forOrder: event.orderID))
                }
            }
        }
    }
}
