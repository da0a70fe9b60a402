import Foundation
import OrderSystemKit

/// `POST /api/orders`. Every field is optional here so a missing one gets a clear message
/// instead of a decoding error; ``validated()`` checks each against ``OrderLimits``.
struct CreateOrderRequest: Decodable, Sendable {
    struct Item: Decodable, Sendable {
        var productId: String?
        var quantity: JSONNumber?
        var priceCents: JSONNumber?
    }
    var userId: String?
    var items: [Item]?
    var currency: String?

    /// The order's lines, or the first thing wrong with the request.
    func validated() throws(APIError) -> (userID: String, items: [LineItem], currency: String) {
        let userID = try TextField.required(userId, "userId", maxBytes: OrderLimits.maxUserIDBytes)
        guard let items, !items.isEmpty else { throw .validation("items must hold at least one item") }
        guard items.count <= OrderLimits.maxItems else {
            throw .validation("items holds \(items.count) items; an order holds at most \(OrderLimits.maxItems)")
        }
        var lines: [LineItem] = []
        for (index, item) in items.enumerated() {
            let productID = try TextField.required(item.productId, "items[\(index)].productId", maxBytes: OrderLimits.maxProductIDBytes)
            let quantity = try Self.integer(item.quantity, "items[\(index)].quantity", in: OrderLimits.quantity)
            let price = try Self.integer(item.priceCents, "items[\(index)].priceCents", in: OrderLimits.priceCents)
            lines.append(LineItem(productId: productID, quantity: Int(quantity), priceCents: price))
        }
        let currency = (currency ?? "USD").uppercased()
        guard currency.count == 3, currency.allSatisfy({ $0.isLetter && $0.isASCII }) else {
            throw .validation(
                "currency must be a three-letter ISO 4217 code such as USD (got \(currency.truncated(toUTF8Bytes: 20).debugDescription))")
        }
        return (userID, lines, currency)
    }

    private static func integer(_ number: JSONNumber?, _ field: String, in range: ClosedRange<Int64>) throws(APIError) -> Int64 {
        guard let number else { throw .validation("\(field) is required") }
        guard let value = number.integer(in: range) else {
            throw .validation(
                "\(field) must be an integer from \(range.lowerBound) to \(range.upperBound) (got \(number.description.truncated(toUTF8Bytes: 40)))"
            )
        }
        return value
    }
}

/// `PUT /api/orders/:id/ship`.
struct ShipOrderRequest: Decodable, Sendable {
    var trackingNumber: String?

    func validated() throws(APIError) -> String {
        try TextField.required(trackingNumber, "trackingNumber", maxBytes: OrderLimits.maxTrackingNumberBytes)
    }
}

/// `PUT /api/orders/:id/cancel`.
struct CancelOrderRequest: Decodable, Sendable {
    var reason: String?

    func validated() throws(APIError) -> String {
        try TextField.required(reason, "reason", maxBytes: OrderLimits.maxReasonBytes)
    }
}
