import Foundation
import OrderSystemKit

/// The rules every text field of a request follows: present, not blank once surrounding spaces
/// are trimmed, at most a number of UTF-8 bytes (what ferryd counts), and free of control
/// characters (they would end up in events, logs and email headers).
enum TextField {
    static func required(_ value: String?, _ field: String, maxBytes: Int) throws(APIError) -> String {
        guard let text = value?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { throw .validation("\(field) is required") }
        guard text.utf8.count <= maxBytes else {
            throw .validation("\(field) is \(text.utf8.count) bytes long; it may be at most \(maxBytes) bytes (UTF-8)")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .validation("\(field) must not contain control characters")
        }
        return text
    }
}
