import Hummingbird
import OrderSystemKit

/// `GET /api/orders`: a page of orders, oldest first, and the cursor of the next page.
struct OrderList: ResponseEncodable {
    /// `limit` when none is given, and the most one page holds.
    static let defaultLimit = 50
    static let maxLimit = 500

    /// The query: `limit` (1…500, default 50), `after` (an order id: the page starts after it)
    /// and `status` (only orders in that state).
    struct Query {
        var limit = OrderList.defaultLimit
        var after: String?
        var status: OrderStatus?

        /// - Parameter parameter: the value of a query parameter, by name.
        init(_ parameter: (String) -> String?) throws(APIError) {
            if let text = parameter("limit") {
                guard let value = Int(text), (1...OrderList.maxLimit).contains(value) else {
                    throw .validation(
                        "limit must be an integer from 1 to \(OrderList.maxLimit) (got \(text.truncated(toUTF8Bytes: 40).debugDescription))"
                    )
                }
                limit = value
            }
            if let text = parameter("after") {
                guard !text.isEmpty, text.utf8.count <= 64 else { throw .validation("after must be the id of an order (from nextAfter)") }
                after = text
            }
            if let text = parameter("status") {
                guard let value = OrderStatus(rawValue: text) else {
                    throw .validation(
                        "status must be one of pending, confirmed, shipped, cancelled (got \(text.truncated(toUTF8Bytes: 40).debugDescription))"
                    )
                }
                status = value
            }
        }
    }

    let orders: [OrderResponse]
    /// The `after` of the next page; null on the last page.
    let nextAfter: String?

    enum CodingKeys: String, CodingKey { case orders, nextAfter }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(orders, forKey: .orders)
        try container.encode(nextAfter, forKey: .nextAfter)
    }
}
