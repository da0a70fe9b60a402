import FerryProtocol
public import Foundation

/// An event as it arrived: the envelope, its payload bytes, and where it sits in its topic.
public struct ReceivedEvent: Sendable {
    let wire: WireEvent
    /// What brings an older schema version to the one ``decode(_:)`` is asked for.
    let upcasters: Upcasters

    init(wire: WireEvent, upcasters: Upcasters = Upcasters()) {
        self.wire = wire
        self.upcasters = upcasters
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

    /// Decodes the payload as `type`, upcast first when it was published under an older schema
    /// version (with the client's ``ClientConfiguration/upcasters``). A newer version is read as
    /// it is: the fields this version knows. A version 0 (unset) counts as the current one.
    public func decode<E: EventRepresentable>(_ type: E.Type) throws(FerryError) -> E {
        var payload = wire.payload
        if wire.schemaVersion != 0, wire.schemaVersion < E.schemaVersion {
            do {
                payload = try upcasters.upcast(payload, of: E.typeName, from: wire.schemaVersion, to: E.schemaVersion)
            } catch {
                throw FerryError(.serialization, "event \(id) (\(typeName) version \(wire.schemaVersion)): \(error.message)")
            }
        }
        do {
            return try E.decodePayload(payload)
        } catch {
            throw FerryError(
                .serialization, "event \(id) (\(typeName) version \(wire.schemaVersion)) does not decode as \(E.typeName): \(error)")
        }
    }
}
