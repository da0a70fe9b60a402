/// An event: an immutable fact, named in the past tense (`OrderCreated`, `PaymentProcessed`).
///
/// Conform a `Codable` struct and it can be published and handled; its JSON encoding is the
/// payload, so handlers in other languages read it too.
///
/// ```swift
/// struct OrderCreated: Event {
///     static let schemaVersion: UInt32 = 2
///     let orderID: String
///     let total: Decimal
///     var eventKey: String? { orderID }   // per-order ordering
/// }
/// ```
public protocol Event: Codable, Sendable {
    /// The type name other services know this event by. Defaults to the Swift type's name.
    static var typeName: String { get }
    /// The schema version of this type's payload; raise it when the payload changes shape.
    static var schemaVersion: UInt32 { get }
    /// The topic events of this type are published to. Defaults to ``typeName``.
    static var topic: String { get }
    /// The ordering key: events with the same key reach the same group member in order.
    var eventKey: String? { get }
}

extension Event {
    public static var typeName: String { String(describing: Self.self) }
    public static var schemaVersion: UInt32 { 1 }
    public static var topic: String { typeName }
    public var eventKey: String? { nil }
}
