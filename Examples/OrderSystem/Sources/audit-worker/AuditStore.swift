import Foundation
import GRDB
import OrderEvents
import OrderSystemKit

/// One stored event with its whole envelope, as `show` prints it.
struct AuditedEvent: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "events"

    var eventID: String
    var topic: String
    var offset: Int64
    var type: String
    var schemaVersion: Int
    var key: String?
    var correlationID: String?
    var causationID: String?
    /// When the publisher created the event (ISO 8601, UTC).
    var createdAt: String
    /// When ferryd stored it.
    var storedAt: String
    /// The headers as a JSON object.
    var headers: String
    /// The payload as published (the protobuf JSON mapping), or `base64:…` if it is not UTF-8.
    var payload: String

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case topic, offset, type
        case schemaVersion = "schema_version"
        case key
        case correlationID = "correlation_id"
        case causationID = "causation_id"
        case createdAt = "created_at"
        case storedAt = "stored_at"
        case headers, payload
    }

    init(_ event: ReceivedEvent, offset: UInt64) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        eventID = event.id
        topic = event.topic
        self.offset = Int64(clamping: offset)
        type = event.typeName
        schemaVersion = Int(event.schemaVersion)
        key = event.key
        correlationID = event.correlationID
        causationID = event.causationID
        createdAt = ConsoleOutput.timestamp(event.createdAt)
        storedAt = ConsoleOutput.timestamp(event.storedAt)
        headers = String(decoding: (try? encoder.encode(event.headers)) ?? Data("{}".utf8), as: UTF8.self)
        payload = String(data: event.payload, encoding: .utf8) ?? "base64:" + event.payload.base64EncodedString()
    }
}

/// The audit-worker's event store (`audit.sqlite`): every order event once, keyed by its id,
/// so a redelivery or a replay stores nothing twice.
struct AuditStore: Sendable {
    let pool: DatabasePool

    init(path: String) throws {
        pool = try StateDatabase.open(path: path) { migrator in
            migrator.registerMigration("v1") { db in
                try db.create(table: "events") { table in
                    table.primaryKey("event_id", .text)
                    table.column("topic", .text).notNull()
                    table.column("offset", .integer).notNull()
                    table.column("type", .text).notNull()
                    table.column("schema_version", .integer).notNull()
                    table.column("key", .text).indexed()
                    table.column("correlation_id", .text)
                    table.column("causation_id", .text)
                    table.column("created_at", .text).notNull()
                    table.column("stored_at", .text).notNull()
                    table.column("headers", .jsonText).notNull()
                    table.column("payload", .text).notNull()
                }
            }
        }
    }

    /// Stores `event` unless it is there already; true if it was new.
    @discardableResult
    func append(_ event: AuditedEvent) throws -> Bool {
        try pool.write { db in
            try event.insert(db, onConflict: .ignore)
            return db.changesCount > 0
        }
    }

    /// An order's events in the order ferryd stored them.
    func events(key: String) throws -> [AuditedEvent] {
        try pool.read { db in
            try AuditedEvent.filter(Column("key") == key).order(Column("stored_at"), Column("offset")).fetchAll(db)
        }
    }

    /// Forgets every stored event (before a replay rebuilds the store); returns how many.
    func removeAll() throws -> Int {
        try pool.write { db in try AuditedEvent.deleteAll(db) }
    }
}
