import Foundation
import OrderEvents
import OrderSystemKit

/// Why an order's stock could not be reserved, cut to a size that always publishes: the event
/// lists at most ``OrderLimits/maxListedMissingItems`` missing lines (product ids cut to
/// ``OrderLimits/maxProductIDBytes``) and a reason of at most ``OrderLimits/maxReasonBytes``
/// that counts the lines it does not name. However many products an order has, and however long
/// their ids, `InventoryReservationFailed` stays a few kilobytes.
struct ReservationFailure: Sendable {
    /// One line that cannot be reserved: its product, the quantity asked and what is in stock
    /// (nil: the product is unknown).
    struct Shortage: Sendable {
        var productID: String
        var asked: Int
        var available: Int?
    }

    /// Product ids in the reason are cut to this, so the reason names several.
    static let maxProductIDBytesInReason = 40

    /// The reason for `shortages` out of `lineCount` products: every shortage named while the
    /// text stays within ``OrderLimits/maxReasonBytes``, then how many more there are.
    static func reason(_ shortages: [Shortage], of lineCount: Int) -> String {
        let head = "insufficient stock for \(shortages.count) of \(lineCount) products: "
        var named: [String] = []
        var used = head.utf8.count
        for (index, shortage) in shortages.enumerated() {
            let product = shortage.productID.truncated(toUTF8Bytes: maxProductIDBytesInReason)
            let part = shortage.available.map { "\(product) (asked \(shortage.asked), available \($0))" } ?? "\(product) (unknown product)"
            let rest = shortages.count - index - 1
            // Keep room for the tail that counts what is left out.
            let tail = rest > 0 ? ", … and \(rest) more" : ""
            let separator = named.isEmpty ? 0 : 2
            guard used + separator + part.utf8.count + tail.utf8.count <= OrderLimits.maxReasonBytes else {
                return head + named.joined(separator: ", ") + (named.isEmpty ? "" : ", ") + "… and \(shortages.count - index) more"
            }
            named.append(part)
            used += separator + part.utf8.count
        }
        return head + named.joined(separator: ", ")
    }

    /// The event for an order whose reservation failed with `reason`, listing the first missing
    /// lines. A reason recorded before these bounds existed is cut too.
    static func event(orderID: String, reason: String, missing: [LineItem]) -> InventoryReservationFailed {
        InventoryReservationFailed.with {
            $0.orderID = orderID
            $0.reason = reason.truncated(toUTF8Bytes: OrderLimits.maxReasonBytes)
            $0.missingItems = missing.prefix(OrderLimits.maxListedMissingItems).map { item in
                var line = item.orderItem
                line.productID = item.productId.truncated(toUTF8Bytes: OrderLimits.maxProductIDBytes)
                return line
            }
            $0.failedAt = .now
        }
    }

    /// The smallest form of the event, for when even the bounded one is refused: the order id
    /// and a count, which is all the saga needs to cancel and refund.
    static func minimalEvent(orderID: String, missingCount: Int) -> InventoryReservationFailed {
        InventoryReservationFailed.with {
            $0.orderID = orderID
            $0.reason = "insufficient stock for \(missingCount) products"
            $0.failedAt = .now
        }
    }
}
