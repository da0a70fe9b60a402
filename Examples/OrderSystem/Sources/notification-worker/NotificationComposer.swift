import Foundation
import OrderEvents
import OrderSystemKit

/// Turns the order system's events into the notifications users read. Events that do not
/// name the user (a refund, an order ready for fulfillment) take the user from the order the
/// store recorded on OrderCreated; until it has, the handler fails and ferryd retries.
struct NotificationComposer: Sendable {
    let store: NotificationStore

    /// Records what the event says about its order and stores the event's notification.
    /// Returns the notification and whether it was new.
    func handle(_ event: any EventRepresentable, context: EventContext) throws -> (UserNotification, Bool)? {
        guard let draft = try draft(for: event) else { return nil }
        let notification = UserNotification(
            eventID: context.eventID, userID: draft.userID, orderID: draft.orderID, kind: draft.kind, message: draft.message,
            createdAt: ConsoleOutput.timestamp(context.event.createdAt))
        return (notification, try store.add(notification))
    }

    private struct Draft {
        var orderID: String
        var userID: String
        var kind: String
        var message: String
    }

    private func draft(for event: any EventRepresentable) throws -> Draft? {
        switch event {
        case let created as OrderCreated:
            try store.recordOrder(created.orderID, userID: created.userID, totalCents: created.totalCents, currency: created.currency)
            return Draft(
                orderID: created.orderID, userID: created.userID, kind: "order_placed",
                message: "We received your order \(created.orderID) (\(money(created.totalCents, created.currency))).")
        case let confirmed as OrderConfirmed:
            try store.recordOrder(confirmed.orderID, userID: confirmed.userID)
            return Draft(
                orderID: confirmed.orderID, userID: confirmed.userID, kind: "order_confirmed",
                message: "Your order \(confirmed.orderID) is confirmed.")
        case let shipped as OrderShipped:
            try store.recordOrder(shipped.orderID, userID: shipped.userID)
            return Draft(
                orderID: shipped.orderID, userID: shipped.userID, kind: "order_shipped",
                message: "Your order \(shipped.orderID) has shipped (tracking number \(shipped.trackingNumber)).")
        case let cancelled as OrderCancelled:
            try store.recordOrder(cancelled.orderID, userID: cancelled.userID)
            let reason = cancelled.reason.isEmpty ? "" : ": \(cancelled.reason)"
            return Draft(
                orderID: cancelled.orderID, userID: cancelled.userID, kind: "order_cancelled",
                message: "Your order \(cancelled.orderID) was cancelled\(reason).")
        case let refunded as PaymentRefunded:
            let order = try knownOrder(refunded.orderID, for: "PaymentRefunded")
            return Draft(
                orderID: refunded.orderID, userID: order.userID, kind: "payment_refunded",
                message: "We refunded \(money(refunded.amountCents, refunded.currency)) for order \(refunded.orderID).")
        case let ready as OrderReadyForFulfillment:
            let order = try knownOrder(ready.orderID, for: "OrderReadyForFulfillment")
            return Draft(
                orderID: ready.orderID, userID: order.userID, kind: "order_preparing",
                message: "Your order \(ready.orderID) is paid and being prepared.")
        default:
            return nil
        }
    }

    private func knownOrder(_ orderID: String, for event: String) throws -> KnownOrder {
        guard let order = try store.order(orderID) else {
            throw TransientFailure(message: "\(event) for order \(orderID) before its OrderCreated: user unknown yet")
        }
        return order
    }

    private func money(_ cents: Int64, _ currency: String) -> String {
        currency.isEmpty ? formatCents(cents) : "\(formatCents(cents)) \(currency)"
    }
}
