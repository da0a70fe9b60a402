public import Foundation
public import SwiftProtobuf

/// Anything Ferry can publish and handle as a typed event: a type name, a schema version, a
/// topic, an ordering key, and a way to turn itself into payload bytes and back.
///
/// Conform through ``Event`` (a `Codable` struct, JSON payload) or ``ProtobufEvent`` (a message
/// generated from a `.proto` schema that other languages share, JSON-mapped payload).
public protocol EventRepresentable: Sendable {
    /// The type name other services know this event by. Defaults to the Swift type's name.
    static var typeName: String { get }
    /// The schema version of this type's payload; raise it when the payload changes shape.
    static var schemaVersion: UInt32 { get }
    /// The topic events of this type are published to. Defaults to ``typeName``.
    static var topic: String { get }
    /// The payload's MIME type, carried in the envelope.
    static var contentType: String { get }
    /// The ordering key: events with the same key reach the same group member in order.
    var eventKey: String? { get }
    /// The payload bytes.
    func encodePayload() throws -> Data
    /// Reads an event back from payload bytes.
    static func decodePayload(_ payload: Data) throws -> Self
}

extension EventRepresentable {
    public static var typeName: String { String(describing: Self.self) }
    public static var schemaVersion: UInt32 { 1 }
    public static var topic: String { typeName }
    public static var contentType: String { "application/json" }
    public var eventKey: String? { nil }
}

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
public protocol Event: EventRepresentable, Codable {}

extension Event {
    public func encodePayload() throws -> Data { try JSONEncoder().encode(self) }
    public static func decodePayload(_ payload: Data) throws -> Self { try JSONDecoder().decode(Self.self, from: payload) }
}

/// An event defined once in a `.proto` schema and generated for every language: its payload
/// is the protobuf JSON mapping, which any JSON reader understands.
///
/// ```swift
/// extension Orders_V1_OrderCreated: ProtobufEvent {
///     public static var typeName: String { "OrderCreated" }
///     public var eventKey: String? { orderID }
/// }
/// ```
public protocol ProtobufEvent: EventRepresentable, SwiftProtobuf.Message {}

extension ProtobufEvent {
    public func encodePayload() throws -> Data { try jsonUTF8Data() }
    public static func decodePayload(_ payload: Data) throws -> Self {
        var options = JSONDecodingOptions()
        // A newer producer may have added fields: old consumers read what they know.
        options.ignoreUnknownFields = true
        return try Self(jsonUTF8Data: payload, options: options)
    }
}
