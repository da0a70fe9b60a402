import Ferry
import Logging
import OrderEvents
import OrderSystemKit

/// The `payment` group: charges new orders (event chaining: `OrderCreated` → `PaymentProcessed`)
/// and refunds cancelled ones (the saga's compensation: `OrderCancelled` → `PaymentRefunded`).
struct PaymentHandlers: Sendable {
    let ledger: PaymentLedger
    let faults: FaultArguments
    let logger: Logger

    func register(on worker: Worker, options: HandlerGroupOptions) {
        worker.group("payment", options: options) { group in
            group.on(OrderCreated.self) { order, context in try await charge(order, context) }
            group.on(OrderCancelled.self) { cancelled, context in try await refund(cancelled, context) }
        }
    }

    private func charge(_ order: OrderCreated, _ context: EventContext) async throws {
        try faults.maybeFail("payment gateway for \(order.orderID)")
        guard
            let payment = try await ledger.charge(
                orderID: order.orderID, amountCents: order.totalCents,
                currency: order.currency.isEmpty ? "USD" : order.currency.truncated(toUTF8Bytes: 8),
                method: "card")
        else {
            logger.info("order cancelled before payment; not charged", metadata: ["order": "\(order.orderID)"])
            return
        }
        try await context.publish(
            PaymentProcessed.with {
                $0.orderID = order.orderID
                $0.paymentID = payment.paymentID
                $0.amountCents = payment.amountCents
                $0.currency = payment.currency
                $0.method = payment.method
                $0.processedAt = .now
            })
        logger.info("charged", metadata: ["order": "\(order.orderID)", "amount": "\(formatCents(payment.amountCents))"])
    }

    private func refund(_ cancelled: OrderCancelled, _ context: EventContext) async throws {
        try faults.maybeFail("payment gateway refund for \(cancelled.orderID)")
        if faults.failFirstRefundAttempt && context.attempt == 1 {
            throw TransientFailure(message: "payment gateway refund for \(cancelled.orderID): timed out (the first attempt always does here)")
        }
        guard let payment = try await ledger.refund(orderID: cancelled.orderID, currency: "USD") else { return }
        try await context.publish(
            PaymentRefunded.with {
                $0.orderID = cancelled.orderID
                $0.paymentID = payment.paymentID
                $0.amountCents = payment.amountCents
                $0.currency = payment.currency
                $0.reason = cancelled.reason.truncated(toUTF8Bytes: OrderLimits.maxReasonBytes)
                $0.refundedAt = .now
            })
        logger.info("refunded", metadata: ["order": "\(cancelled.orderID)", "amount": "\(formatCents(payment.amountCents))"])
    }
}
