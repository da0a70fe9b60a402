public import Hummingbird
import HTTPTypes
public import Foundation

/// The request context of ferryd's HTTP side: who the caller is, once authenticated, and the
/// JSON coding every route uses (snake_case field names, as in the protocol's spec).
public struct GatewayContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The principal the request acts as (set by ``HTTPAuthenticator``); nil when the request
    /// carried no valid credentials.
    public var identity: HTTPIdentity?

    public init(source: Source) {
        coreContext = .init(source: source)
        identity = nil
    }

    /// Bodies are bounded by the routes themselves (``GatewayLimits``); this is the ceiling.
    public var maxUploadSize: Int { GatewayLimits.maxBodyBytes }

    public var responseEncoder: JSONEncoder { Self.jsonEncoder() }

    /// How every JSON reply is written: snake_case names, sorted keys, `/` unescaped.
    static func jsonEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public var requestDecoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}

/// Who an HTTP request acts as.
public struct HTTPIdentity: Sendable, Equatable {
    /// The principal's name from the credentials file, or ``HTTPIdentity/local`` when ferryd
    /// runs without security (loopback only, where anyone on the machine may do anything).
    public let principal: String
    /// How it authenticated: `password`, `token`, `session` or `loopback`.
    public let method: String

    public init(principal: String, method: String) {
        self.principal = principal
        self.method = method
    }

    /// The name of the one identity of a broker without security.
    public static let localName = "local"
}
