import Foundation
import Hummingbird

/// An error the API answers with: an HTTP status, a stable code scripts can match, and a
/// message for people. The body is `{"error": {"code": "...", "message": "..."}}`.
struct APIError: HTTPResponseError, CustomStringConvertible {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    var description: String { "\(status.code) \(code): \(message)" }

    static func validation(_ message: String) -> APIError { APIError(status: .badRequest, code: "validation_failed", message: message) }
    static func notFound(_ orderID: String) -> APIError {
        APIError(status: .notFound, code: "order_not_found", message: "no order with id '\(orderID)'")
    }
    static func conflict(_ message: String) -> APIError { APIError(status: .conflict, code: "invalid_state", message: message) }
    static func unavailable(_ message: String) -> APIError {
        APIError(status: .serviceUnavailable, code: "broker_unavailable", message: message)
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
        return response
    }
}
