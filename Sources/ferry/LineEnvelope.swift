import Ferry
import Foundation

/// One line of `ferry publish --lines`: `{"payload": …, "topic"?, "key"?, "id"?, "type"?, "headers"?}`.
enum LineEnvelope {
    struct Invalid: Error {
        let message: String
    }

    /// Parses one line; members it lacks take the command line's values.
    static func parse(_ line: Data, topic: String, key: String?, type: String, headers: [String: String]) throws(Invalid) -> RawEvent {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: line, options: [.fragmentsAllowed])
        } catch {
            throw Invalid(message: "not valid JSON: \(PublishCommand.describe(error))")
        }
        guard let object = value as? [String: Any] else { throw Invalid(message: "expected an object like {\"payload\": …}") }
        guard let payload = object["payload"] else { throw Invalid(message: "the object has no \"payload\" member") }
        let payloadData: Data
        do {
            payloadData = try JSONSerialization.data(withJSONObject: payload, options: [.fragmentsAllowed, .withoutEscapingSlashes])
        } catch {
            throw Invalid(message: "the payload cannot be encoded as JSON")
        }
        var merged = headers
        if let extra = object["headers"] {
            guard let extra = extra as? [String: Any] else { throw Invalid(message: "\"headers\" must be an object of strings") }
            for (name, value) in extra {
                guard let value = value as? String else { throw Invalid(message: "header \"\(name)\" must be a string") }
                merged[name] = value
            }
        }
        func string(_ member: String) throws(Invalid) -> String? {
            guard let value = object[member] else { return nil }
            guard let text = value as? String else { throw Invalid(message: "\"\(member)\" must be a string") }
            return text
        }
        return RawEvent(
            topic: try string("topic") ?? topic, id: try string("id") ?? UUID().uuidString, key: try string("key") ?? key,
            type: try string("type") ?? type, payload: payloadData, headers: merged)
    }
}
