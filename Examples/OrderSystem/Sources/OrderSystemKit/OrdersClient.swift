public import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A small client for orders-api, used by the demo traffic and the end-to-end tests.
public struct OrdersClient: Sendable {
    /// An HTTP answer: the status and the decoded JSON body.
    public struct Reply: Sendable {
        public let status: Int
        public let body: Data
        /// The response headers, by lowercased name.
        public var headers: [String: String] = [:]

        /// The body as a JSON object (empty when it is not one).
        public var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The `id` of the returned order.
        public var orderID: String? { json["id"] as? String }
        /// The `status` of the returned order.
        public var orderStatus: String? { json["status"] as? String }
        /// The error code of an error reply.
        public var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        /// The message of an error reply.
        public var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
    }

    /// An HTTP call that did not get an answer.
    public struct TransportError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public let baseURL: URL
    private let session: URLSession

    public init(baseURL: URL, timeout: TimeInterval = 10) {
        self.baseURL = baseURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        self.session = URLSession(configuration: configuration)
    }

    public func createOrder(userID: String?, items: [LineItem]?, currency: String? = nil) async throws -> Reply {
        var body: [String: Any] = [:]
        if let userID { body["userId"] = userID }
        if let items { body["items"] = items.map { ["productId": $0.productId, "quantity": $0.quantity, "priceCents": $0.priceCents] } }
        if let currency { body["currency"] = currency }
        return try await send("POST", "/api/orders", json: body)
    }

    public func confirm(_ orderID: String) async throws -> Reply { try await send("PUT", "/api/orders/\(orderID)/confirm", json: [:]) }

    public func ship(_ orderID: String, trackingNumber: String?) async throws -> Reply {
        try await send("PUT", "/api/orders/\(orderID)/ship", json: trackingNumber.map { ["trackingNumber": $0] } ?? [:])
    }

    public func cancel(_ orderID: String, reason: String?) async throws -> Reply {
        try await send("PUT", "/api/orders/\(orderID)/cancel", json: reason.map { ["reason": $0] } ?? [:])
    }

    /// Committed events orders-api has not published yet (nil when it does not answer).
    public func outboxPending() async -> Int? {
        guard let reply = try? await send("GET", "/health"), reply.status == 200 else { return nil }
        return reply.json["outboxPending"] as? Int
    }

    /// Events ferryd refused for good, which orders-api keeps in its dead outbox (nil when it
    /// does not answer).
    public func deadOutbox() async -> Int? {
        guard let reply = try? await send("GET", "/health"), reply.status == 200 else { return nil }
        return reply.json["deadOutbox"] as? Int
    }

    /// `GET /api/orders` with the given query parameters (`limit`, `after`, `status`).
    public func listOrders(_ query: [String: String] = [:]) async throws -> Reply {
        var components = URLComponents()
        components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        return try await send("GET", "/api/orders" + (query.isEmpty ? "" : "?" + (components.percentEncodedQuery ?? "")))
    }

    public func order(_ orderID: String) async throws -> Reply { try await send("GET", "/api/orders/\(orderID)") }

    /// The event types of the order's history, oldest first.
    public func eventTypes(_ orderID: String) async throws -> [String] {
        let reply = try await send("GET", "/api/orders/\(orderID)/events")
        return (reply.json["events"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
    }

    public func events(_ orderID: String) async throws -> Reply { try await send("GET", "/api/orders/\(orderID)/events") }

    /// Sends a request; `raw` bodies go as they are (for malformed-input tests), with
    /// `contentType` (nil: no Content-Type header).
    public func send(
        _ method: String, _ path: String, json: [String: Any]? = nil, raw: Data? = nil, contentType: String? = "application/json"
    ) async throws -> Reply {
        // The path may carry a query; appendingPathComponent would escape its `?`.
        var request = URLRequest(url: URL(string: baseURL.absoluteString + path) ?? baseURL.appendingPathComponent(path))
        request.httpMethod = method
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let raw {
            request.httpBody = raw
            if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        }
        do {
            let (data, response) = try await session.data(for: request)
            var headers: [String: String] = [:]
            for (name, value) in (response as? HTTPURLResponse)?.allHeaderFields ?? [:] {
                if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
            }
            return Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data, headers: headers)
        } catch {
            throw TransportError(message: "\(method) \(path): \(error.localizedDescription)")
        }
    }
}
