import Ferry
import Foundation
import Hummingbird

/// The HTTP API: place orders, move them through their states, read them and their history.
struct OrderRoutes: Sendable {
    let store: OrderStore
    let relay: OutboxRelay
    let bus: EventBus

    func register(on router: Router<BasicRequestContext>) {
        // Liveness plus the outbox backlog: committed events not yet confirmed by ferryd.
        router.get("/health") { _, _ -> Health in Health(status: "ok", outboxPending: try await store.unpublishedCount()) }
        let orders = router.group("api/orders")
        orders.post { request, context -> EditedResponse<OrderResponse> in
            let body = try await decode(CreateOrderRequest.self, request, context)
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
            let tracking = try await decode(ShipOrderRequest.self, request, context).validated()
            return try await change(.ship(trackingNumber: tracking), context)
        }
        orders.put(":id/cancel") { request, context -> OrderResponse in
            let reason = try await decode(CancelOrderRequest.self, request, context).validated()
            return try await change(.cancel(reason: reason), context)
        }
        orders.get(":id/events") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard try await store.order(id: id) != nil else { throw APIError.notFound(id) }
            return try await history(of: id)
        }
    }

    private func change(_ change: OrderStore.Change, _ context: BasicRequestContext) async throws -> OrderResponse {
        let order = try await store.apply(change, to: try context.parameters.require("id"))
        relay.notify()
        return OrderResponse(order)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext) async throws -> T {
        do {
            return try await request.decode(as: type, context: context)
        } catch {
            throw APIError.validation("the body is not the JSON this endpoint expects: \(error)")
        }
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
    let status: String
    let outboxPending: Int
}
