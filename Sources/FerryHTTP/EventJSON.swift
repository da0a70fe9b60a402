import Ferry
import Foundation

/// An event as the HTTP API shows it. A JSON payload is embedded as JSON (`payload`); any
/// other payload comes as text when it is UTF-8 (`payload_text`) and as base64 otherwise
/// (`payload_base64`).
struct EventJSON: Codable, Sendable {
    var topic: String
    var id: String
    var key: String?
    var type: String
    var schemaVersion: UInt32
    var contentType: String
    var headers: [String: String]
    var correlationId: String?
    var causationId: String?
    var publisher: String?
    var createdAt: String
    var storedAt: String
    var payload: JSONValue?
    var payloadText: String?
    var payloadBase64: String?

    init(_ event: ReceivedEvent) {
        topic = event.topic
        id = event.id
        key = event.key
        type = event.typeName
        schemaVersion = event.schemaVersion
        contentType = event.contentType
        headers = event.headers
        correlationId = event.correlationID
        causationId = event.causationID
        publisher = event.publisher
        createdAt = Self.timestamp(event.createdAt)
        storedAt = Self.timestamp(event.storedAt)
        if event.contentType.contains("json"), let value = JSONValue(json: event.payload) {
            payload = value
        } else if let text = String(data: event.payload, encoding: .utf8),
            !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !"\n\r\t".unicodeScalars.contains($0) })
        {
            payloadText = text
        } else {
            payloadBase64 = event.payload.base64EncodedString()
        }
    }

    /// The payload's bytes as shown (for the console).
    var payloadDisplay: String {
        if let payload { return String(decoding: payload.data, as: UTF8.self) }
        return payloadText ?? payloadBase64.map { "base64: " + $0 } ?? ""
    }

    static func timestamp(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }
}

/// A delivery handed out by a fetch.
struct DeliveryJSON: Codable, Sendable {
    var deliveryId: UInt64
    var attempt: UInt32
    var offset: UInt64
    var lastError: String?
    var event: EventJSON

    init(_ delivery: PulledDelivery) {
        deliveryId = delivery.deliveryID
        attempt = delivery.attempt
        offset = delivery.offset
        lastError = delivery.lastError.isEmpty ? nil : delivery.lastError
        event = EventJSON(delivery.event)
    }
}

/// A dead-letter entry.
struct DeadLetterJSON: Codable, Sendable {
    var id: UInt64
    var group: String
    var offset: UInt64
    var reason: String
    var attempts: UInt32
    var lastError: String
    var deadLetteredAt: String
    var event: EventJSON

    init(_ entry: DeadLetterEntry) {
        id = entry.id
        group = entry.group
        offset = entry.offset
        reason = entry.reason.rawValue
        attempts = entry.attempts
        lastError = entry.lastError
        deadLetteredAt = EventJSON.timestamp(entry.deadLetteredAt)
        event = EventJSON(entry.event)
    }
}
