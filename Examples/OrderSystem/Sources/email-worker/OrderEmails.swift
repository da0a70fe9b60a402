import Foundation
import OrderEvents
import OrderSystemKit

/// The order system's emails: what each event makes the customer read.
struct OrderEmails: Sendable {
    /// The From header.
    let from: String
    /// The domain of message ids.
    var messageIDDomain = "shop.example"
    /// The domain of customers' addresses (`<user id>@customers.example`).
    var customerDomain = "customers.example"

    func confirmation(_ event: OrderConfirmed, context: EventContext) -> EmailMessage {
        message(
            to: event.userID, subject: "Your order \(event.orderID) is confirmed", context: context,
            body: """
                Hello \(event.userID),

                Thank you for your order. Order \(event.orderID) is confirmed and we are getting it ready.
                We will write again as soon as it ships.

                Ferry Shop
                """)
    }

    func shipping(_ event: OrderShipped, context: EventContext) -> EmailMessage {
        message(
            to: event.userID, subject: "Your order \(event.orderID) has shipped", context: context,
            body: """
                Hello \(event.userID),

                Good news: order \(event.orderID) is on its way.
                Tracking number: \(event.trackingNumber)

                Ferry Shop
                """)
    }

    func paymentReminder(_ event: PaymentReminderDue, context: EventContext) -> EmailMessage {
        let amount = String(format: "%.2f", Double(event.totalCents) / 100)
        return message(
            to: event.userID, subject: "Your order \(event.orderID) is waiting for you", context: context,
            body: """
                Hello \(event.userID),

                Order \(event.orderID) (\(amount) \(event.currency)) is not confirmed yet.
                Confirm it to have it paid and on its way; it stays reserved for you until then.

                Ferry Shop
                """)
    }

    /// The customer's address for a user id.
    func address(of userID: String) -> String {
        "\(EmailMessage.token(userID))@\(customerDomain)"
    }

    /// A message dated by the event (so a redelivery renders the same bytes) and identified by it.
    private func message(to userID: String, subject: String, context: EventContext, body: String) -> EmailMessage {
        EmailMessage(
            from: from, to: address(of: userID), subject: subject, date: context.event.createdAt,
            messageID: "\(EmailMessage.token(context.eventID))@\(messageIDDomain)",
            extraHeaders: [("X-Ferry-Event-ID", context.eventID), ("X-Correlation-ID", context.correlationID)], body: body)
    }
}
