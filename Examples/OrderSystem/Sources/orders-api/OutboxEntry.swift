import Ferry
import Foundation
import GRDB

/// An event waiting in the transactional outbox: written in the same transaction as the order
/// change that caused it, published by ``OutboxRelay`` afterwards. Its id is fixed when it is
/// written, so a publish repeated after a crash is deduplicated by ferryd.
struct OutboxEntry: Codable, Sendable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "outbox"

    var seq: Int64?
    var eventID: String
    var topic: String
    var type: String
    var schemaVersion: Int
    var key: String
    var payload: Data
    var correlationID: String?
    var causationID: String?
    var createdAt: Date
    var publishedAt: Date?
    /// Set when ferryd refused the event for good, with its answer: the relay skips it.
    var deadAt: Date?
    var errorCode: String?
    var errorMessage: String?

    enum CodingKeys: String, CodingKey {
        case seq
        case eventID = "event_id"
        case topic, type
        case schemaVersion = "schema_version"
        case key, payload
        case correlationID = "correlation_id"
        case causationID = "causation_id"
        case createdAt = "created_at"
        case publishedAt = "published_at"
        case deadAt = "dead_at"
        case errorCode = "error_code"
        case errorMessage = "error_message"
    }

    /// Events the relay has still to publish: neither published nor refused for good.
    static var pending: QueryInterfaceRequest<OutboxEntry> {
        filter(Column("published_at") == nil && Column("dead_at") == nil)
    }

    /// Why an event is in the outbox: the chain it continues, if any.
    struct Cause: Sendable {
        var eventID: String
        var correlationID: String
    }

    init<E: EventRepresentable>(_ event: E, id: String = UUID().uuidString, cause: Cause? = nil) throws {
        eventID = id
        topic = E.topic
        type = E.typeName
        schemaVersion = Int(E.schemaVersion)
        key = event.eventKey ?? ""
        payload = try event.encodePayload()
        correlationID = cause?.correlationID
        causationID = cause?.eventID
        createdAt = Date()
    }

    mutating func didInsert(_ inserted: InsertionSuccess) { seq = inserted.rowID }

    /// The envelope to publish.
    var rawEvent: RawEvent {
        RawEvent(
            topic: topic, id: eventID, key: key.isEmpty ? nil : key, type: type, schemaVersion: UInt32(schemaVersion), payload: payload,
            correlationID: correlationID, causationID: causationID, createdAt: createdAt)
    }
}
