import Ferry
import Foundation

/// How the commands show an event: one line for people, a dictionary for JSON.
enum EventRendering {
    /// The payload as a JSON value when it is JSON, else as text (or base64 when not UTF-8).
    static func payloadValue(_ payload: Data) -> Any {
        if let value = try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed]) { return value }
        if let text = String(data: payload, encoding: .utf8) { return text }
        return ["base64": payload.base64EncodedString()]
    }

    /// The payload on one line: compact JSON, or text.
    static func payloadText(_ payload: Data) -> String {
        if let value = try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        {
            return String(decoding: data, as: UTF8.self)
        }
        if let text = String(data: payload, encoding: .utf8) { return text.replacingOccurrences(of: "\n", with: "\\n") }
        return "<\(payload.count) bytes>"
    }

    /// Every field of the envelope, for `--json`.
    static func dictionary(_ event: ReceivedEvent, offset: UInt64) -> [String: Any] {
        var dictionary: [String: Any] = [
            "topic": event.topic, "offset": offset, "id": event.id, "type": event.typeName, "content_type": event.contentType,
            "headers": event.headers, "stored_at": Output.time(event.storedAt), "created_at": Output.time(event.createdAt),
            "payload": payloadValue(event.payload),
        ]
        dictionary["key"] = event.key ?? NSNull()
        dictionary["correlation_id"] = event.correlationID ?? NSNull()
        dictionary["causation_id"] = event.causationID ?? NSNull()
        if event.schemaVersion != 0 { dictionary["schema_version"] = event.schemaVersion }
        return dictionary
    }

    /// `2025-05-01T12:00:00.123Z orders.created#12 key=cust-4 OrderCreated {"total":99}`.
    static func line(_ event: ReceivedEvent, offset: UInt64) -> String {
        var parts = [Output.time(event.storedAt), "\(event.topic)#\(offset)"]
        if let key = event.key { parts.append("key=\(key)") }
        if !event.typeName.isEmpty { parts.append(event.typeName) }
        if !event.headers.isEmpty {
            parts.append("[" + event.headers.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]")
        }
        parts.append(payloadText(event.payload))
        return parts.joined(separator: " ")
    }

    /// The full event, one field a line, the payload indented: for `dlq show`.
    static func details(_ event: ReceivedEvent, offset: UInt64) -> [String] {
        var lines = [
            "topic:          \(event.topic)", "offset:         \(offset)", "event id:       \(event.id)",
            "key:            \(event.key ?? "-")", "type:           \(event.typeName.isEmpty ? "-" : event.typeName)",
            "content type:   \(event.contentType.isEmpty ? "-" : event.contentType)",
            "correlation id: \(event.correlationID ?? "-")", "causation id:   \(event.causationID ?? "-")",
            "created at:     \(Output.time(event.createdAt))", "stored at:      \(Output.time(event.storedAt))",
        ]
        if event.headers.isEmpty {
            lines.append("headers:        -")
        } else {
            lines.append("headers:")
            for (key, value) in event.headers.sorted(by: { $0.key < $1.key }) { lines.append("  \(key): \(value)") }
        }
        lines.append("payload:")
        let payload = payloadValue(event.payload)
        if payload is [String: Any] || payload is [Any],
            let data = try? JSONSerialization.data(
                withJSONObject: payload, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        {
            lines += String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
        } else {
            lines.append("  " + payloadText(event.payload))
        }
        return lines
    }
}
