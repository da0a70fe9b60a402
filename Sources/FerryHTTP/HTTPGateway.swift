public import Ferry
import Foundation
public import Hummingbird
import HTTPTypes
import NIOCore
public import Logging
import Synchronization
public import ServiceLifecycle

/// ferryd's HTTP API (`/api/v1`) and web console (`/console`): a client of the broker through
/// its own protocol (``BrokerClients``), so that an HTTP request is authorized, bounded and
/// acknowledged exactly as the same command over ZeroMQ.
public final class HTTPGateway: Sendable {
    public let clients: BrokerClients
    public let members: HTTPMembers
    public let sessions: ConsoleSessions
    /// The console's live tails, ended at shutdown.
    let tails = OpenTails()
    public let authenticator: HTTPAuthenticator
    let logger: Logger
    /// Whether a principal may requeue and purge a group's dead letters (the console's admin
    /// role); the broker checks again on every command.
    let mayAdminister: @Sendable (_ principal: String, _ group: String) -> Bool
    private let registered = Mutex<[Route]>([])

    /// A route of the API: method and path under `/api/v1` (`:name` for a parameter).
    public struct Route: Hashable, Sendable, CustomStringConvertible {
        public let method: String
        public let path: String
        public var description: String { "\(method) \(path)" }
    }

    /// The API routes ``addRoutes(to:)`` added (a test compares them with the OpenAPI document).
    public var apiRoutes: [Route] { registered.withLock { $0 } }

    /// Adds an API route and records it.
    func route(
        _ method: HTTPRequest.Method, _ path: String, in api: RouterGroup<GatewayContext>,
        _ handler: @escaping @Sendable (Request, GatewayContext) async throws -> Response
    ) {
        registered.withLock { $0.append(Route(method: method.rawValue, path: "/api/v1/" + path)) }
        api.on(RouterPath(path), method: method, use: handler)
    }

    public init(
        clients: BrokerClients, mode: HTTPAuthenticator.Mode, memberTimeout: Duration = GatewayLimits.defaultMemberTimeout, logger: Logger,
        mayAdminister: @escaping @Sendable (_ principal: String, _ group: String) -> Bool = { _, _ in true }
    ) {
        self.mayAdminister = mayAdminister
        self.clients = clients
        self.members = HTTPMembers(timeout: memberTimeout)
        self.sessions = ConsoleSessions()
        self.authenticator = HTTPAuthenticator(mode: mode, sessions: sessions)
        self.logger = logger
    }

    /// Adds `/api/v1/…` and `/console/…` to `router`.
    public func addRoutes(to router: Router<GatewayContext>) {
        let api = router.group("api/v1").add(middleware: authenticator).add(middleware: RequireIdentity())
        addPublishRoutes(to: api)
        addConsumeRoutes(to: api)
        addAdminRoutes(to: api)
        addTraceRoutes(to: api)
        addConsoleRoutes(to: router)
    }

    /// The connection of the request's principal (401 without one).
    public func bus(_ context: GatewayContext) async throws(APIError) -> EventBus {
        let identity = try context.requireIdentity()
        return try await APIError.mapping { () throws(FerryError) in try await clients.bus(for: identity.principal) }
    }

    /// Expires idle HTTP members every second until shutdown, then ends them all and closes
    /// the connections.
    public var housekeeping: some Service { Housekeeping(gateway: self) }

    struct Housekeeping: Service {
        let gateway: HTTPGateway

        func run() async throws {
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    await gateway.members.expire()
                }
            }
            await gateway.tails.closeAll()
            await gateway.members.closeAll()
            await gateway.clients.close()
        }
    }
}

// MARK: - Request helpers

extension Request {
    /// Query field `name` as an integer in `range` (default when absent).
    func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let text = query(name), !text.isEmpty else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.invalid("'\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound); got '\(text.prefix(64))'")
        }
        return number
    }

    /// Query fields as a dictionary (the last value of a repeated field), decoded as a browser
    /// encodes a form (`+` is a space).
    var queryFields: [String: String] { ConsoleForm(Data((uri.query ?? "").utf8)).fields }

    /// One query field, decoded as ``queryFields`` are.
    func query(_ name: String) -> String? { queryFields[name] }

    /// The body, at most `limit` bytes (413 beyond).
    func bodyBytes(upTo limit: Int = GatewayLimits.maxBodyBytes) async throws(APIError) -> Data {
        do {
            var buffer = try await body.collect(upTo: limit)
            return Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "PAYLOAD_TOO_LARGE", "the body is larger than \(limit) bytes")
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "PAYLOAD_TOO_LARGE", "the body is larger than \(limit) bytes")
        } catch {
            throw APIError.invalid("cannot read the body: \(error)")
        }
    }

    /// The body as JSON of type `T` (an empty body decodes `{}`).
    func json<T: Decodable>(_ type: T.Type, context: GatewayContext) async throws(APIError) -> T {
        let data = try await bodyBytes(upTo: 1 << 20)
        do {
            return try context.requestDecoder.decode(T.self, from: data.isEmpty ? Data("{}".utf8) : data)
        } catch {
            throw APIError.invalid("the body is not the JSON expected: \(Self.describe(error))")
        }
    }

    /// `deliveryIds` as the JSON names it: `delivery_ids`.
    static func snakeCase(_ name: String) -> String {
        name.reduce(into: "") { text, character in
            if character.isUppercase { text += "_" + character.lowercased() } else { text.append(character) }
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(snakeCase(key.stringValue))'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at '\(context.codingPath.map { snakeCase($0.stringValue) }.joined(separator: "."))'"
        case DecodingError.dataCorrupted: "not valid JSON"
        default: "\(error)"
        }
    }
}

extension GatewayContext {
    /// Path parameter `name`, checked: 1-200 bytes, no control characters.
    func name(_ parameter: String) throws(APIError) -> String {
        guard let value = parameters.get(parameter), !value.isEmpty, value.utf8.count <= GatewayLimits.maxNameBytes,
            !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw APIError.invalid("'\(parameter)' must be 1-\(GatewayLimits.maxNameBytes) bytes without control characters")
        }
        return value
    }
}

/// A JSON reply with a status.
struct JSONReply<Body: Encodable & Sendable>: ResponseGenerator {
    let status: HTTPResponse.Status
    let body: Body

    init(_ body: Body, status: HTTPResponse.Status = .ok) {
        self.status = status
        self.body = body
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try GatewayContext.jsonEncoder().encode(body))))
    }
}
