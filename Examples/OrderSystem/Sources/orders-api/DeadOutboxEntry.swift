import Foundation
import GRDB

/// An outbox event ferryd refused for good (an invalid field, a payload or event too large):
/// publishing it again could never succeed, so the relay moves it here, out of the way of the
/// events behind it, and keeps it whole for inspection. `/health` counts these rows.
struct DeadOutboxEntry: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "dead_outbox"

    /// The row's `seq` in the outbox.
    var seq: Int64
    var eventID: String
    var topic: String
    var type: String
    var schemaVersion: Int
    var key: String
    var payload: Data
    var correlationID: String?
    var causationID: String?
    var createdAt: Date
    /// ferryd's rejection code (e.g. `INVALID_ARGUMENT`) and message.
    var errorCode: String
    var errorMessage: String
    var deadAt: Date

    enum CodingKeys: String, CodingKey {
        case seq
        case eventID = "event_id"
        case topic, type
        case schemaVersion = "schema_version"
        case key, payload
        case correlationID = "correlation_id"
        case causationID = "causation_id"
        case createdAt = "created_at"
        case errorCode = "error_code"
        case errorMessage = "error_message"
        case deadAt = "dead_at"
    }

    init(_ entry: OutboxEntry, errorCode: String, errorMessage: String) {
        seq = entry.seq ?? 0
        eventID = entry.eventID
        topic = entry.topic
        type = entry.type
        schemaVersion = entry.schemaVersion
        key = entry.key
        payload = entry.payload
        correlationID = entry.correlationID
        causationID = entry.causationID
        createdAt = entry.createdAt
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        deadAt = Date()
    }
}
