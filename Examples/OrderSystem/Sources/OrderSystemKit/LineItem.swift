public import OrderEvents

/// One line of an order, as the services store it in SQLite (JSON) and return it over HTTP.
public struct LineItem: Codable, Sendable, Equatable {
    public var productId: String
    public var quantity: Int
    public var priceCents: Int64

    public init(productId: String, quantity: Int, priceCents: Int64) {
        self.productId = productId
        self.quantity = quantity
        self.priceCents = priceCents
    }

    public init(_ item: OrderItem) {
        self.init(productId: item.productID, quantity: Int(item.quantity), priceCents: item.priceCents)
    }

    /// The event form of this line.
    public var orderItem: OrderItem {
        OrderItem.with {
            $0.productID = productId
            $0.quantity = Int32(clamping: quantity)
            $0.priceCents = priceCents
        }
    }
}
