import Ferry

/// The demo's events: a slice of the order system (issue 4 builds all of it).
struct LineItem: Codable, Sendable {
    let productID: String
    let quantity: Int
    let price: Int
}

struct OrderCreated: Event {
    let orderID: String
    let userID: String
    let items: [LineItem]
    let total: Int
    var eventKey: String? { orderID }
}

struct PaymentProcessed: Event {
    let orderID: String
    let paymentID: String
    let amount: Int
    var eventKey: String? { orderID }
}

struct UserAction: Event {
    let userID: String
    let action: String
}
