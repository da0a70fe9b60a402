import FerryProtocol
public import Foundation

/// An event as it arrived: the envelope, its payload bytes, and where it sits in its topic.
public struct ReceivedEvent: Sendable {
    let wire: WireEvent

    init(wire: WireEvent) {
        self.wire = wire
    }

    public var id: String { wire.id }
    public var topic: String { wire.topic }
    public var key: String? { wire.key.isEmpty ? nil : wire.key }
    /// The publisher's type name, e.g. `OrderCreated`.
    public var typeName: String { wire.type }
    public var schemaVersion: UInt32 { wire.schemaVersion }
    public var contentType: String { wire.contentType }
    public var headers: [String: String] { wire.headers }
    public var payload: Data { wire.payload }
    public var correlationID: String? { wire.correlationID.isEmpty ? nil : wire.correlationID }
    public var causationID: String? { wire.causationID.isEmpty ? nil : wire.causationID }
    /// The principal that published the event, as ferryd authenticated its connection (CURVE);
    /// nil from a broker that does not authenticate. Only the broker sets it: a publisher that
    /// tries to is refused, so a consumer can rely on it.
    public var publisher: String? { wire.headers["ferry-principal"] }
    /// When the publisher created the event.
    public var createdAt: Date { Date(timeIntervalSince1970: Double(wire.createdAtUs) / 1_000_000) }
    /// When ferryd stored it.
    public var storedAt: Date { Date(timeIntervalSince1970: Double(wire.storedAtUs) / 1_000_000) }

    /// Decodes the payload as `type`.
    public func decode<E: EventRepresentable>(_ type: E.Type) throws(FerryError) -> E {
        do {
            return try E.decodePayload(wire.payload)
        } catch {
            throw FerryError(.serialization, "event \(id) (\(typeName)) does not decode as \(E.typeName): \(error)")
        }
    }
}
