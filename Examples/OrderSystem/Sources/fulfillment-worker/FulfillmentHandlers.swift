import Ferry
import Logging
import OrderEvents

/// The `fulfillment` group, an aggregator: once an order has both its `PaymentProcessed` and
/// its `InventoryReserved`, in either order and across restarts, it publishes
/// `OrderReadyForFulfillment` exactly once.
///
/// The ready event's id is derived from the order id alone, so whichever fact completes the
/// pair, and however often it is redelivered before the announcement is recorded, ferryd
/// stores one event.
struct FulfillmentHandlers: Sendable {
    let store: ReadinessStore
    let logger: Logger

    func register(on worker: Worker, options: HandlerGroupOptions) {
        worker.group("fulfillment", options: options) { group in
            group.on(PaymentProcessed.self) { payment, context in
                try await handle(.paid(paymentID: payment.paymentID), orderID: payment.orderID, context)
            }
            group.on(InventoryReserved.self) { reserved, context in
                try await handle(.reserved, orderID: reserved.orderID, context)
            }
            group.on(OrderCancelled.self) { cancelled, context in
                try await handle(.cancelled, orderID: cancelled.orderID, context)
            }
        }
    }

    static func readyEventID(orderID: String) -> String { "OrderReadyForFulfillment/\(orderID)" }

    private func handle(_ fact: ReadinessStore.Fact, orderID: String, _ context: EventContext) async throws {
        let readiness = try await store.record(fact, orderID: orderID)
        guard readiness.isReadyToAnnounce else { return }
        try await context.publish(
            OrderReadyForFulfillment.with {
                $0.orderID = orderID
                $0.paymentID = readiness.paymentID ?? ""
                $0.readyAt = .now
            }, id: Self.readyEventID(orderID: orderID))
        try await store.markAnnounced(orderID: orderID)
        logger.info("order ready for fulfillment", metadata: ["order": "\(orderID)"])
    }
}
