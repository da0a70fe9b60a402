import Foundation
import Hummingbird
import Logging

/// Gives every error the API's JSON body `{"error": {"code", "message"}}`: the framework's own
/// (an unknown route → 404 `route_not_found`) as well as the handlers'. Anything else a handler
/// throws is logged and answered with 500 `internal_error`, without its details.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            if error.status == .notFound { throw APIError.routeNotFound(request.method, request.uri.path) }
            throw APIError(
                status: error.status, code: error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                message: error.body ?? error.status.reasonPhrase)
        } catch {
            logger.error("request failed", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            throw APIError.internal()
        }
    }
}
