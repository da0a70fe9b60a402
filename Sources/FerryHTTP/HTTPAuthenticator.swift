import Foundation
public import Hummingbird
import HTTPTypes
import HummingbirdAuth

/// Sets who a request acts as (``GatewayContext/identity``): in open mode (no security,
/// loopback only) everyone is ``HTTPIdentity/localName``; with security, a principal signs in
/// with HTTP Basic authentication (its name and one of its `http_passwords`, a password or a
/// token), `Authorization: Bearer NAME:SECRET`, or a console session cookie. Credentials that
/// are present and wrong are refused at once (401), never ignored.
public struct HTTPAuthenticator: RouterMiddleware {
    public typealias Context = GatewayContext

    /// How requests authenticate.
    public enum Mode: Sendable {
        /// No security: every request acts as ``HTTPIdentity/localName``.
        case open
        /// Principals sign in.
        case principals(HTTPLogins)
    }

    /// The console's session cookie.
    public static let sessionCookie = "ferry_session"

    let mode: Mode
    let sessions: ConsoleSessions

    public init(mode: Mode, sessions: ConsoleSessions) {
        self.mode = mode
        self.sessions = sessions
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.identity = try await identify(request)
        return try await next(request, context)
    }

    func identify(_ request: Request) async throws(APIError) -> HTTPIdentity? {
        guard case .principals(let logins) = mode else { return HTTPIdentity(principal: HTTPIdentity.localName, method: "loopback") }
        if let basic = request.headers.basic {
            return try await check(logins, basic.username, basic.password, method: "password")
        }
        if let bearer = request.headers.bearer {
            guard let colon = bearer.token.firstIndex(of: ":") else {
                throw APIError(.unauthorized, "UNAUTHENTICATED", "a bearer token is NAME:SECRET")
            }
            return try await check(logins, String(bearer.token[..<colon]), String(bearer.token[bearer.token.index(after: colon)...]), method: "token")
        }
        if let id = request.cookies[Self.sessionCookie]?.value, let session = sessions.session(id) {
            return HTTPIdentity(principal: session.principal, method: "session")
        }
        return nil
    }

    private func check(_ logins: HTTPLogins, _ name: String, _ secret: String, method: String) async throws(APIError) -> HTTPIdentity {
        guard name.utf8.count <= 64, secret.utf8.count <= 1024, try await logins.verify(principal: name, password: secret) else {
            throw APIError(.unauthorized, "UNAUTHENTICATED", "unknown principal or wrong password")
        }
        return HTTPIdentity(principal: name, method: method)
    }
}

/// Answers 401 to a request without an identity before any route reads its body or path, so
/// that an unauthenticated caller learns nothing from validation errors.
public struct RequireIdentity: RouterMiddleware {
    public typealias Context = GatewayContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        _ = try context.requireIdentity()
        return try await next(request, context)
    }
}

extension GatewayContext {
    /// The identity, or a 401 for a request that carried no credentials.
    func requireIdentity() throws(APIError) -> HTTPIdentity {
        guard let identity else {
            throw APIError(.unauthorized, "UNAUTHENTICATED", "sign in: HTTP Basic authentication with a principal and one of its http_passwords")
        }
        return identity
    }
}
