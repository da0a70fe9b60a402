public import Ferry
public import Hummingbird
public import HTTPTypes
import Foundation

/// An HTTP API error: the protocol's error code and a message, as JSON
/// (`{"error": {"code": "INVALID_ARGUMENT", "message": "…"}}`), with the HTTP status the code
/// maps to.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    /// A protocol error code name (proto/README.md §9), or one of the gateway's own:
    /// `NOT_FOUND`, `METHOD_NOT_ALLOWED`, `UNAUTHENTICATED`, `TIMEOUT`, `UNAVAILABLE`.
    public let code: String
    public let message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// A bad request: `INVALID_ARGUMENT` with 400.
    public static func invalid(_ message: String) -> APIError { APIError(.badRequest, "INVALID_ARGUMENT", message) }

    /// The error a broker or SDK failure becomes, with the status its code calls for.
    public init(_ error: FerryError) {
        let status: HTTPResponse.Status =
            switch error.code.name {
            case "INVALID_ARGUMENT", "MISSING_FIELD", "MALFORMED_FRAME", "UNKNOWN_COMMAND", "UNSUPPORTED_VERSION", "SERIALIZATION": .badRequest
            case "PAYLOAD_TOO_LARGE", "BATCH_TOO_LARGE": .contentTooLarge
            case "UNKNOWN_GROUP", "UNKNOWN_SUBSCRIPTION": .notFound
            case "UNAUTHENTICATED": .unauthorized
            case "FORBIDDEN": .forbidden
            case "RESOURCE_EXHAUSTED": .tooManyRequests
            case "STORAGE_FULL", "STORAGE_FAILURE", "SHUTTING_DOWN", "CLOSED", "TRANSPORT", "SESSION_ENDED", "BROKER_RESTARTED": .serviceUnavailable
            case "TIMEOUT": .gatewayTimeout
            default: .badGateway
            }
        self.init(status, error.code.name, error.message)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONSerialization.data(withJSONObject: ["error": ["code": code, "message": message]], options: [.sortedKeys, .withoutEscapingSlashes])
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Basic realm="ferryd", charset="UTF-8""# }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension APIError {
    /// Runs `body`, turning an SDK error into an ``APIError``.
    static func mapping<T>(_ body: () async throws(FerryError) -> T) async throws(APIError) -> T {
        do {
            return try await body()
        } catch {
            throw APIError(error)
        }
    }
}
