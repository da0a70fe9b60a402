import Foundation
import OrderSystemKit

/// `POST /api/orders`. Every field is optional here so a missing one gets a clear message
/// instead of a decoding error.
struct CreateOrderRequest: Decodable, Sendable {
    struct Item: Decodable, Sendable {
        var productId: String?
        var quantity: Int?
        var priceCents: Int64?
    }
    var userId: String?
    var items: [Item]?
    var currency: String?

    /// The order's lines, or the first thing wrong with the request.
    func validated() throws(APIError) -> (userID: String, items: [LineItem], currency: String) {
        guard let userID = userId?.trimmingCharacters(in: .whitespaces), !userID.isEmpty else {
            throw .validation("userId is required")
        }
        guard let items, !items.isEmpty else { throw .validation("items must hold at least one item") }
        guard items.count <= 100 else { throw .validation("an order holds at most 100 items") }
        var lines: [LineItem] = []
        for (index, item) in items.enumerated() {
            guard let productID = item.productId, !productID.isEmpty else { throw .validation("items[\(index)].productId is required") }
            guard let quantity = item.quantity else { throw .validation("items[\(index)].quantity is required") }
            guard quantity > 0 else { throw .validation("items[\(index)].quantity must be positive (got \(quantity))") }
            guard quantity <= 10_000 else { throw .validation("items[\(index)].quantity must be at most 10000") }
            guard let price = item.priceCents else { throw .validation("items[\(index)].priceCents is required") }
            guard price > 0 else { throw .validation("items[\(index)].priceCents must be positive (got \(price))") }
            guard price <= 100_000_000 else { throw .validation("items[\(index)].priceCents must be at most 100000000") }
            lines.append(LineItem(productId: productID, quantity: quantity, priceCents: price))
        }
        let currency = (currency ?? "USD").uppercased()
        guard currency.count == 3, currency.allSatisfy({ $0.isLetter && $0.isASCII }) else {
            throw .validation("currency must be a three-letter ISO 4217 code")
        }
        return (userID, lines, currency)
    }
}

/// `PUT /api/orders/:id/ship`.
struct ShipOrderRequest: Decodable, Sendable {
    var trackingNumber: String?

    func validated() throws(APIError) -> String {
        guard let tracking = trackingNumber?.trimmingCharacters(in: .whitespaces), !tracking.isEmpty else {
            throw .validation("trackingNumber is required")
        }
        return tracking
    }
}

/// `PUT /api/orders/:id/cancel`.
struct CancelOrderRequest: Decodable, Sendable {
    var reason: String?

    func validated() throws(APIError) -> String {
        guard let reason = reason?.trimmingCharacters(in: .whitespaces), !reason.isEmpty else { throw .validation("reason is required") }
        return reason
    }
}
