import Ferry
import Foundation
import Hummingbird
import Logging
import OrderSystemKit

/// The HTTP API: place orders, move them through their states, read them and their history.
///
/// Every error is the JSON body `{"error": {"code", "message"}}` (``APIError``): a known path
/// asked with a method it does not take gets 405 with `Allow`, an unknown path 404.
struct OrderRoutes: Sendable {
    let store: OrderStore
    let relay: OutboxRelay
    let bus: EventBus
    let logger: Logger

    /// Every path the API serves and the methods it takes there (HEAD goes with GET).
    static let routes: [(path: RouterPath, methods: [HTTPRequest.Method])] = [
        ("/health", [.get, .head]),
        ("/api/orders", [.get, .head, .post]),
        ("/api/orders/:id", [.get, .head]),
        ("/api/orders/:id/confirm", [.put]),
        ("/api/orders/:id/ship", [.put]),
        ("/api/orders/:id/cancel", [.put]),
        ("/api/orders/:id/events", [.get, .head]),
    ]
    private static let guardedMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]

    func register(on router: Router<BasicRequestContext>) {
        router.add(middleware: APIErrorMiddleware(logger: logger))
        // Liveness, the outbox backlog (committed events not yet confirmed by ferryd) and the
        // events ferryd refused for good (moved to the dead outbox).
        router.get("/health") { _, _ -> Health in
            Health(
                status: "ok", outboxPending: try await store.unpublishedCount(), outboxError: relay.lastError,
                deadOutbox: try await store.deadOutboxCount())
        }
        let orders = router.group("api/orders")
        orders.get { request, _ -> OrderList in
            let query = try OrderList.Query { request.uri.queryParameters[$0[...]].map(String.init) }
            guard let page = try await store.orders(after: query.after, status: query.status, limit: query.limit + 1) else {
                throw APIError.validation("after: no order with id '\(query.after ?? "")'")
            }
            let shown = page.prefix(query.limit)
            return OrderList(orders: shown.map(OrderResponse.init), nextAfter: page.count > query.limit ? shown.last?.id : nil)
        }
        orders.post { request, context -> EditedResponse<OrderResponse> in
            let body = try await JSONBody.decode(CreateOrderRequest.self, from: request)
            let (userID, items, currency) = try body.validated()
            let order = try await store.create(userID: userID, items: items, currency: currency)
            relay.notify()
            return EditedResponse(status: .created, headers: [.location: "/api/orders/\(order.id)"], response: OrderResponse(order))
        }
        orders.get(":id") { _, context -> OrderResponse in
            let id = try context.parameters.require("id")
            guard let order = try await store.order(id: id) else { throw APIError.notFound(id) }
            return OrderResponse(order)
        }
        orders.put(":id/confirm") { _, context -> OrderResponse in
            try await change(.confirm, context)
        }
        orders.put(":id/ship") { request, context -> OrderResponse in
            let tracking = try await JSONBody.decode(ShipOrderRequest.self, from: request).validated()
            return try await change(.ship(trackingNumber: tracking), context)
        }
        orders.put(":id/cancel") { request, context -> OrderResponse in
            let reason = try await JSONBody.decode(CancelOrderRequest.self, from: request).validated()
            return try await change(.cancel(reason: reason), context)
        }
        orders.get(":id/events") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard try await store.order(id: id) != nil else { throw APIError.notFound(id) }
            return try await history(of: id)
        }
        for (path, allowed) in Self.routes {
            for method in Self.guardedMethods where !allowed.contains(method) {
                router.on(path, method: method) { request, _ -> Response in
                    throw APIError.methodNotAllowed(method, request.uri.path, allowed: allowed)
                }
            }
        }
    }

    private func change(_ change: OrderStore.Change, _ context: BasicRequestContext) async throws -> OrderResponse {
        let order = try await store.apply(change, to: try context.parameters.require("id"))
        relay.notify()
        return OrderResponse(order)
    }

    /// The order's events as ferryd stores them (every topic, keyed by the order id), oldest first.
    private func history(of orderID: String) async throws -> Response {
        let items: [HistoryItem]
        do {
            items = try await bus.history(key: orderID)
        } catch {
            throw APIError.unavailable("could not read the order's history from ferryd: \(error)")
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let events: [[String: Any]] = items.sorted {
            ($0.event.storedAt, $0.event.createdAt, $0.offset) < ($1.event.storedAt, $1.event.createdAt, $1.offset)
        }.map { item in
            var entry: [String: Any] = [
                "eventId": item.event.id, "type": item.event.typeName, "topic": item.topic, "offset": item.offset,
                "correlationId": item.event.correlationID ?? item.event.id, "createdAt": formatter.string(from: item.event.createdAt),
                "storedAt": formatter.string(from: item.event.storedAt),
            ]
            if let causation = item.event.causationID { entry["causationId"] = causation }
            // Who published it, as ferryd authenticated them (stamped only when ferryd serves CURVE).
            if let principal = item.event.publisher { entry["publishedBy"] = principal }
            entry["payload"] =
                (try? JSONSerialization.jsonObject(with: item.event.payload)) ?? String(decoding: item.event.payload, as: UTF8.self)
            return entry
        }
        let body = try JSONSerialization.data(withJSONObject: ["orderId": orderID, "events": events], options: [.sortedKeys])
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension OrderResponse: ResponseEncodable {}

/// `GET /health`.
struct Health: ResponseEncodable {
    enum CodingKeys: String, CodingKey { case status, outboxPending, outboxError, deadOutbox }

    let status: String
    /// Committed events not yet confirmed by ferryd.
    let outboxPending: Int
    /// Why the relay's last publish failed, while it retries (null when it does not).
    let outboxError: String?
    /// Events ferryd refused for good, kept in the `dead_outbox` table.
    let deadOutbox: Int

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
        try container.encode(outboxPending, forKey: .outboxPending)
        try container.encode(outboxError, forKey: .outboxError)  // null rather than absent
        try container.encode(deadOutbox, forKey: .deadOutbox)
    }
}
