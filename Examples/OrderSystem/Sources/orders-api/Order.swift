import Foundation
import GRDB
import OrderSystemKit

/// Where an order is in its life. Only these moves are allowed:
/// pending → confirmed → shipped, and pending or confirmed → cancelled.
enum OrderStatus: String, Codable, Sendable, DatabaseValueConvertible {
    case pending, confirmed, shipped, cancelled
}

/// An order as the orders table stores it.
struct Order: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "orders"

    var id: String
    var userID: String
    var status: OrderStatus
    var items: [LineItem]
    var totalCents: Int64
    var currency: String
    var trackingNumber: String?
    var cancelReason: String?
    var createdAt: Date
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id
        case userID = "user_id"
        case status, items
        case totalCents = "total_cents"
        case currency
        case trackingNumber = "tracking_number"
        case cancelReason = "cancel_reason"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// The order as the API returns it.
struct OrderResponse: Codable, Sendable {
    var id: String
    var userId: String
    var status: OrderStatus
    var items: [LineItem]
    var totalCents: Int64
    var currency: String
    var trackingNumber: String?
    var cancelReason: String?
    var createdAt: Date
    var updatedAt: Date

    init(_ order: Order) {
        id = order.id
        userId = order.userID
        status = order.status
        items = order.items
        totalCents = order.totalCents
        currency = order.currency
        trackingNumber = order.trackingNumber
        cancelReason = order.cancelReason
        createdAt = order.createdAt
        updatedAt = order.updatedAt
    }
}
