import Ferry
import Logging
import OrderEvents
import OrderSystemKit

/// The `inventory` group: reserves stock for new orders, reports the outcome as an event, and
/// releases the stock of cancelled orders.
struct InventoryHandlers: Sendable {
    let store: InventoryStore
    let faults: FaultArguments
    let logger: Logger

    func register(on worker: Worker, options: HandlerGroupOptions) {
        worker.group("inventory", options: options) { group in
            group.on(OrderCreated.self) { order, context in try await reserve(order, context) }
            group.on(OrderCancelled.self) { cancelled, context in try await release(cancelled, context) }
        }
    }

    private func reserve(_ order: OrderCreated, _ context: EventContext) async throws {
        try faults.maybeFail("reserve stock for \(order.orderID)")
        switch try await store.reserve(orderID: order.orderID, items: order.items.map(LineItem.init)) {
        case .reserved(let items):
            // The order's own lines: never larger than the `OrderCreated` ferryd accepted.
            // The follow-up's id derives from this event's, so a redelivery republishes the same
            // event and ferryd deduplicates it.
            try await context.publish(
                InventoryReserved.with {
                    $0.orderID = order.orderID
                    $0.items = items.map(\.orderItem)
                    $0.reservedAt = .now
                })
            logger.info("reserved", metadata: ["order": "\(order.orderID)"])
        case .failed(let reason, let missing):
            // The saga cancels and refunds on this event, so it must always publish: it is
            // bounded, and should ferryd still refuse it for good, its smallest form goes instead.
            do {
                try await context.publish(ReservationFailure.event(orderID: order.orderID, reason: reason, missing: missing))
            } catch {
                guard error.isPermanentRejection else { throw error }
                logger.error(
                    "reservation failure refused by ferryd; publishing its minimal form",
                    metadata: ["order": "\(order.orderID)", "error": "\(error)"])
                try await context.publish(ReservationFailure.minimalEvent(orderID: order.orderID, missingCount: missing.count))
            }
            logger.info("reservation failed", metadata: ["order": "\(order.orderID)", "reason": "\(reason.truncated(toUTF8Bytes: 200))"])
        case .skipped:
            logger.info("order cancelled before its reservation; nothing reserved", metadata: ["order": "\(order.orderID)"])
        }
    }

    private func release(_ cancelled: OrderCancelled, _ context: EventContext) async throws {
        try faults.maybeFail("release stock for \(cancelled.orderID)")
        guard let items = try await store.release(orderID: cancelled.orderID) else { return }
        try await context.publish(
            InventoryReleased.with {
                $0.orderID = cancelled.orderID
                $0.items = items.map(\.orderItem)
                $0.releasedAt = .now
            })
        logger.info("released", metadata: ["order": "\(cancelled.orderID)"])
    }
}
