import Ferry
import Hummingbird
import Logging
import OrderEvents
import OrderSystemKit

/// The orders service's part of the saga: when stock cannot be reserved, the order is
/// cancelled (which, through `OrderCancelled`, refunds the payment and releases any stock).
struct OrderSaga: Sendable {
    let store: OrderStore
    let relay: OutboxRelay
    let logger: Logger

    func register(on worker: Worker, options: HandlerGroupOptions) {
        worker.group("orders", options: options) { group in
            group.on(InventoryReservationFailed.self) { failure, context in
                try await cancel(failure, context: context)
            }
        }
    }

    private func cancel(_ failure: InventoryReservationFailed, context: EventContext) async throws {
        let cause = OutboxEntry.Cause(eventID: context.eventID, correlationID: context.correlationID)
        do {
            // Bounded like a reason given over HTTP, whatever the failure event says.
            let reason = "inventory unavailable: \(failure.reason)".truncated(toUTF8Bytes: OrderLimits.maxReasonBytes)
            _ = try await store.apply(.cancel(reason: reason), to: failure.orderID, cause: cause)
            relay.notify()
            logger.info("saga cancelled order", metadata: ["order": "\(failure.orderID)", "reason": "\(reason)"])
        } catch let error as APIError where error.status == .conflict {
            // Already cancelled (a redelivery) or already shipped: nothing left to compensate here.
            logger.info("saga: order not cancellable", metadata: ["order": "\(failure.orderID)", "why": "\(error.message)"])
        } catch let error as APIError where error.status == .notFound {
            throw DeadLetterError("InventoryReservationFailed for unknown order \(failure.orderID)")
        }
    }
}
