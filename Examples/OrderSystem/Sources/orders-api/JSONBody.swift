import Foundation
import Hummingbird
import OrderSystemKit

/// Reads a request's JSON body for the endpoints that take one, answering every way it can be
/// wrong with an ``APIError`` that says what to fix:
///
/// - a body over ``OrderLimits/maxRequestBodyBytes`` → 413 `body_too_large`;
/// - a body sent without `Content-Type: application/json` (or another `+json` type) → 415
///   `unsupported_media_type`;
/// - no body, a body that is not JSON, or a field of the wrong type → 400 `validation_failed`,
///   naming the field and what it expects (e.g. `items[2].quantity must be an integer from 1 to
///   10000`).
enum JSONBody {
    /// What each field holds, for the messages about a field of the wrong type.
    private static let expectations: [String: String] = [
        "userId": "a string",
        "items": "an array of items (objects with productId, quantity and priceCents)",
        "productId": "a string",
        "quantity": "an integer from \(OrderLimits.quantity.lowerBound) to \(OrderLimits.quantity.upperBound)",
        "priceCents": "an integer from \(OrderLimits.priceCents.lowerBound) to \(OrderLimits.priceCents.upperBound)",
        "currency": "a three-letter ISO 4217 code (a string)",
        "trackingNumber": "a string",
        "reason": "a string",
    ]

    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let contentType = request.headers[.contentType]
        if declaresBody(request), !isJSON(contentType) { throw APIError.unsupportedMediaType(contentType) }
        let body = try await collect(request.body, limit: OrderLimits.maxRequestBodyBytes)
        guard body.readableBytes > 0 else { throw APIError.validation("the request needs a JSON object as its body") }
        guard isJSON(contentType) else { throw APIError.unsupportedMediaType(contentType) }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.validation(message(for: error))
        }
    }

    /// Whether the request says a body follows.
    private static func declaresBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength], let bytes = Int(length) { return bytes > 0 }
        return request.headers[.transferEncoding] != nil
    }

    private static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let media = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }

    /// The whole body, or 413 as soon as it grows past `limit`.
    private static func collect(_ body: RequestBody, limit: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        for try await var part in body {
            guard collected.readableBytes + part.readableBytes <= limit else { throw APIError.bodyTooLarge(limit: limit) }
            collected.writeBuffer(&part)
        }
        return collected
    }

    private static func message(for error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            guard !context.codingPath.isEmpty else { return "the body must be a JSON object" }
            return "\(path(context.codingPath)) must be \(expectation(context.codingPath))"
        case .dataCorrupted(let context):
            guard !context.codingPath.isEmpty else { return "the body is not valid JSON" }
            return "\(path(context.codingPath)) must be \(expectation(context.codingPath))"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is required"
        @unknown default:
            return "the body is not the JSON this endpoint expects"
        }
    }

    /// `items[2].quantity` for the coding path items → 2 → quantity.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text
    }

    private static func expectation(_ codingPath: [any CodingKey]) -> String {
        guard let last = codingPath.last else { return "a JSON object" }
        if last.intValue != nil { return "an object with productId, quantity and priceCents" }
        return expectations[last.stringValue] ?? "a valid value"
    }
}
