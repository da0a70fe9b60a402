import Foundation
import Hummingbird

/// An error the API answers with: an HTTP status, a stable code scripts can match, and a
/// message for people. The body is `{"error": {"code": "...", "message": "..."}}`.
struct APIError: HTTPResponseError, CustomStringConvertible {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    /// Headers the answer carries besides the JSON body's (`Allow` on a 405).
    var headers: HTTPFields = [:]

    var description: String { "\(status.code) \(code): \(message)" }

    static func validation(_ message: String) -> APIError { APIError(status: .badRequest, code: "validation_failed", message: message) }
    static func notFound(_ orderID: String) -> APIError {
        APIError(status: .notFound, code: "order_not_found", message: "no order with id '\(orderID)'")
    }
    static func routeNotFound(_ method: HTTPRequest.Method, _ path: String) -> APIError {
        APIError(status: .notFound, code: "route_not_found", message: "no route \(method.rawValue) \(path)")
    }
    static func methodNotAllowed(_ method: HTTPRequest.Method, _ path: String, allowed: [HTTPRequest.Method]) -> APIError {
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        return APIError(
            status: .methodNotAllowed, code: "method_not_allowed", message: "\(path) does not take \(method.rawValue); it takes \(allow)",
            headers: [.allow: allow])
    }
    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, code: "body_too_large", message: "the request body is larger than \(limit) bytes")
    }
    static func unsupportedMediaType(_ contentType: String?) -> APIError {
        APIError(
            status: .unsupportedMediaType, code: "unsupported_media_type",
            message: "the body must be JSON sent with Content-Type: application/json"
                + (contentType.map { " (got \($0.debugDescription))" } ?? " (no Content-Type given)"))
    }
    static func conflict(_ message: String) -> APIError { APIError(status: .conflict, code: "invalid_state", message: message) }
    static func unavailable(_ message: String) -> APIError {
        APIError(status: .serviceUnavailable, code: "broker_unavailable", message: message)
    }
    static func `internal`() -> APIError {
        APIError(status: .internalServerError, code: "internal_error", message: "the server failed; the error is in its log")
    }

    private struct Body: Encodable {
        struct Detail: Encodable {
            let code: String
            let message: String
        }
        let error: Detail
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try context.responseEncoder.encode(Body(error: .init(code: code, message: message)), from: request, context: context)
        response.status = status
        response.headers.append(contentsOf: headers)
        return response
    }
}
