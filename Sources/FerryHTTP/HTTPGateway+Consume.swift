import Ferry
import FerryProtocol
import Foundation
import Hummingbird
import HTTPTypes

/// Consumer-group members over HTTP: a client names its member, fetches (long-poll), then acks
/// or nacks each delivery by id.
///
/// ```sh
/// curl -X POST 'http://127.0.0.1:7480/api/v1/groups/email/members/m1/fetch?topics=orders.created&max=10&wait=20'
/// curl -X POST http://127.0.0.1:7480/api/v1/groups/email/members/m1/deliveries/17/ack
/// ```
extension HTTPGateway {
    struct Fetched: Codable, Sendable {
        var group: String
        var member: String
        var deliveries: [DeliveryJSON]
    }

    struct AckRequest: Codable, Sendable {
        var deliveryIds: [UInt64]
    }

    struct NackRequest: Codable, Sendable {
        var delayMs: UInt32?
        var deadLetter: Bool?
        var error: String?
    }

    struct Settled: Codable, Sendable {
        var settled: Int
        var unknown: [UInt64]
    }

    func addConsumeRoutes(to api: RouterGroup<GatewayContext>) {
        route(.post, "groups/:group/members/:member/fetch", in: api) { request, context -> Response in
            let (group, member) = (try context.name("group"), try context.name("member"))
            let principal = try context.requireIdentity().principal
            let max = try request.integer("max", default: 1, in: 1...GatewayLimits.maxFetch)
            let waitSeconds = try request.integer("wait", default: 0, in: 0...Int(GatewayLimits.maxWait.components.seconds))
            let patterns = (request.query("topics") ?? "").split(separator: ",").map(String.init)
            let credit = try request.integer("max_in_flight", default: Swift.max(max, 16), in: 1...GatewayLimits.maxFetch)
            // As a protocol Subscribe: a new group starts at the oldest events unless told otherwise.
            let start = request.query("start") ?? "earliest"
            guard start == "earliest" || start == "latest" else { throw APIError.invalid("'start' is earliest or latest, not '\(start.prefix(32))'") }
            let earliest = start == "earliest"
            let bus = try await self.bus(context)
            let consumer = try await self.members.acquire(group: group, member: member, principal: principal) { () throws(APIError) in
                try await APIError.mapping { () throws(FerryError) in
                    try await bus.consumer(
                        group: group, patterns: patterns, maxInFlight: credit, startEarliest: earliest, memberName: "http:\(member)")
                }
            }
            defer { self.members.done(group: group, member: member) }
            let deliveries: [PulledDelivery]
            do throws(FerryError) {
                deliveries = try await consumer.fetch(max: max, wait: .seconds(waitSeconds))
            } catch {
                // The broker ended the member (a revoked grant, a lost session): it is gone; the
                // next fetch joins anew.
                if error.code != FerryError.Code.broker(.invalidArgument) { _ = try? await self.members.remove(group: group, member: member, principal: principal) }
                throw APIError(error)
            }
            return try JSONReply(Fetched(group: group, member: member, deliveries: deliveries.map(DeliveryJSON.init)))
                .response(from: request, context: context)
        }

        route(.post, "groups/:group/members/:member/ack", in: api) { request, context -> Response in
            let (group, member) = (try context.name("group"), try context.name("member"))
            let body = try await request.json(AckRequest.self, context: context)
            guard body.deliveryIds.count <= GatewayLimits.maxIDs else {
                throw APIError(.contentTooLarge, "BATCH_TOO_LARGE", "at most \(GatewayLimits.maxIDs) ids per ack")
            }
            let consumer = try self.members.existing(group: group, member: member, principal: try context.requireIdentity().principal)
            let unknown = consumer.ack(body.deliveryIds)
            return try JSONReply(Settled(settled: body.deliveryIds.count - unknown.count, unknown: unknown)).response(from: request, context: context)
        }

        route(.post, "groups/:group/members/:member/deliveries/:delivery/ack", in: api) { request, context -> Response in
            let (consumer, id) = try self.delivery(context)
            guard consumer.ack([id]).isEmpty else { throw Self.unknownDelivery(id) }
            return try JSONReply(Settled(settled: 1, unknown: [])).response(from: request, context: context)
        }

        route(.post, "groups/:group/members/:member/deliveries/:delivery/nack", in: api) { request, context -> Response in
            let body = try await request.json(NackRequest.self, context: context)
            let (consumer, id) = try self.delivery(context)
            let error = String((body.error ?? "").prefix(4096))
            guard consumer.nack(id, delay: body.delayMs.map { .milliseconds(Int($0)) }, deadLetter: body.deadLetter ?? false, error: error) else {
                throw Self.unknownDelivery(id)
            }
            return try JSONReply(Settled(settled: 1, unknown: [])).response(from: request, context: context)
        }

        route(.post, "groups/:group/members/:member/deliveries/:delivery/release", in: api) { request, context -> Response in
            let (consumer, id) = try self.delivery(context)
            guard consumer.release([id]).isEmpty else { throw Self.unknownDelivery(id) }
            return try JSONReply(Settled(settled: 1, unknown: [])).response(from: request, context: context)
        }

        route(.delete, "groups/:group/members/:member", in: api) { request, context -> Response in
            let (group, member) = (try context.name("group"), try context.name("member"))
            guard try await self.members.remove(group: group, member: member, principal: try context.requireIdentity().principal) else {
                throw APIError(.notFound, "UNKNOWN_SUBSCRIPTION", "no member '\(member)' in group '\(group)'")
            }
            return Response(status: .noContent)
        }
    }

    private func delivery(_ context: GatewayContext) throws(APIError) -> (GroupConsumer, UInt64) {
        let (group, member) = (try context.name("group"), try context.name("member"))
        guard let id = context.parameters.get("delivery").flatMap(UInt64.init) else {
            throw APIError.invalid("the delivery id must be an unsigned integer")
        }
        return (try members.existing(group: group, member: member, principal: try context.requireIdentity().principal), id)
    }

    private static func unknownDelivery(_ id: UInt64) -> APIError {
        APIError(.notFound, "UNKNOWN_DELIVERY", "delivery \(id) is not held by this member (settled already, or it timed out and went elsewhere)")
    }
}
