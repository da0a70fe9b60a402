@_exported import Ferry
import Foundation
@_exported import SwiftProtobuf

// The order system's events, generated from proto/orders/v1/events.proto and published as the
// protobuf JSON mapping. Each is published to the topic of its name, keyed by its order id
// (UserAction: by its user id), so `history(key: orderID)` tells an order's whole story.

public typealias OrderItem = Orders_V1_OrderItem
public typealias OrderCreated = Orders_V1_OrderCreated
public typealias OrderConfirmed = Orders_V1_OrderConfirmed
public typealias PaymentReminderDue = Orders_V1_PaymentReminderDue
public typealias OrderShipped = Orders_V1_OrderShipped
public typealias OrderCancelled = Orders_V1_OrderCancelled
public typealias PaymentProcessed = Orders_V1_PaymentProcessed
public typealias PaymentRefunded = Orders_V1_PaymentRefunded
public typealias InventoryReserved = Orders_V1_InventoryReserved
public typealias InventoryReservationFailed = Orders_V1_InventoryReservationFailed
public typealias InventoryReleased = Orders_V1_InventoryReleased
public typealias OrderReadyForFulfillment = Orders_V1_OrderReadyForFulfillment
public typealias UserAction = Orders_V1_UserAction

extension OrderCreated: ProtobufEvent {
    public static var typeName: String { "OrderCreated" }
    /// Version 2 added `subtotalCents` and `taxCents` (``OrderSystemUpcasters`` brings version 1 up).
    public static var schemaVersion: UInt32 { 2 }
    public var eventKey: String? { orderID }
}

extension PaymentReminderDue: ProtobufEvent {
    public static var typeName: String { "PaymentReminderDue" }
    public var eventKey: String? { orderID }

    /// The id of an order's reminder: one per order, so scheduling it again on a redelivery of
    /// OrderCreated confirms the same scheduled event, and a cancel knows what to name.
    public static func id(forOrder orderID: String) -> String { "payment-reminder/\(orderID)" }
}

extension OrderConfirmed: ProtobufEvent {
    public static var typeName: String { "OrderConfirmed" }
    public var eventKey: String? { orderID }
}

extension OrderShipped: ProtobufEvent {
    public static var typeName: String { "OrderShipped" }
    public var eventKey: String? { orderID }
}

extension OrderCancelled: ProtobufEvent {
    public static var typeName: String { "OrderCancelled" }
    public var eventKey: String? { orderID }
}

extension PaymentProcessed: ProtobufEvent {
    public static var typeName: String { "PaymentProcessed" }
    public var eventKey: String? { orderID }
}

extension PaymentRefunded: ProtobufEvent {
    public static var typeName: String { "PaymentRefunded" }
    public var eventKey: String? { orderID }
}

extension InventoryReserved: ProtobufEvent {
    public static var typeName: String { "InventoryReserved" }
    public var eventKey: String? { orderID }
}

extension InventoryReservationFailed: ProtobufEvent {
    public static var typeName: String { "InventoryReservationFailed" }
    public var eventKey: String? { orderID }
}

extension InventoryReleased: ProtobufEvent {
    public static var typeName: String { "InventoryReleased" }
    public var eventKey: String? { orderID }
}

extension OrderReadyForFulfillment: ProtobufEvent {
    public static var typeName: String { "OrderReadyForFulfillment" }
    public var eventKey: String? { orderID }
}

extension UserAction: ProtobufEvent {
    public static var typeName: String { "UserAction" }
    public var eventKey: String? { userID }
}

/// Every event type of the order system, for tools that handle them all (audit, notifications).
public enum OrderSystemEvents {
    /// The events that belong to one order (keyed by its id).
    public static let orderEventTypes: [any EventRepresentable.Type] = [
        OrderCreated.self, OrderConfirmed.self, OrderShipped.self, OrderCancelled.self, PaymentProcessed.self, PaymentRefunded.self,
        InventoryReserved.self, InventoryReservationFailed.self, InventoryReleased.self, OrderReadyForFulfillment.self,
        PaymentReminderDue.self,
    ]
}

/// How the order system's events published under older schema versions become the current
/// ones: every process of the system decodes with these (`ClientConfiguration.upcasters`).
public enum OrderSystemUpcasters {
    /// Prices include VAT at this rate, in percent.
    public static let vatPercent: Int64 = 20

    /// The VAT in a price that includes it, rounded to the cent: 12 000 → 2 000.
    public static func tax(inTotal total: Int64) -> Int64 {
        (total * vatPercent + (100 + vatPercent) / 2) / (100 + vatPercent)
    }

    public static let all: Upcasters = {
        var upcasters = Upcasters()
        // OrderCreated 1 → 2: the subtotal and the tax, split from the total as orders-api does.
        upcasters.register(OrderCreated.typeName, from: 1) { order in
            let total = int64(order["totalCents"]) ?? 0
            let tax = tax(inTotal: total)
            order["subtotalCents"] = String(total - tax)
            order["taxCents"] = String(tax)
        }
        return upcasters
    }()

    /// An int64 of the protobuf JSON mapping: a string, or a number from a lenient writer.
    private static func int64(_ value: Any?) -> Int64? {
        switch value {
        case let text as String: Int64(text)
        case let number as NSNumber: number.int64Value
        default: nil
        }
    }
}

extension Google_Protobuf_Timestamp {
    /// Now, as a protobuf timestamp.
    public static var now: Google_Protobuf_Timestamp { Google_Protobuf_Timestamp(date: Date()) }
}

/// Money in minor units (cents), formatted for people: 1999 → "19.99".
public func formatCents(_ cents: Int64) -> String {
    let sign = cents < 0 ? "-" : ""
    let magnitude = cents.magnitude
    let fraction = magnitude % 100
    return "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
