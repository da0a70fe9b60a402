import Ferry
import Foundation
import Hummingbird
import HTTPTypes

/// Administration over HTTP: topics, groups, dead letters (list with filters and paging,
/// requeue, purge), replay, key history. The broker authorizes each command for the
/// request's principal.
extension HTTPGateway {
    struct TopicJSON: Codable, Sendable {
        var name: String
        var firstOffset: UInt64
        var nextOffset: UInt64
        var events: UInt64
    }

    struct TopicsJSON: Codable, Sendable {
        var topics: [TopicJSON]
        var storedBytes: UInt64
        var connections: Int
    }

    struct GroupJSON: Codable, Sendable {
        struct Lag: Codable, Sendable {
            var topic: String
            var position: UInt64
            var end: UInt64
            var lag: UInt64
        }
        var name: String
        var patterns: [String]
        var members: Int
        var inFlight: Int
        var retryQueue: Int
        var deadLetters: Int
        var lag: UInt64
        var topics: [Lag]
        var delivered: UInt64
        var acked: UInt64
        var nacked: UInt64
        var redelivered: UInt64
        var deadLettered: UInt64
        var ephemeral: Bool

        init(_ group: GroupSummary) {
            name = group.name
            patterns = group.patterns
            members = group.members
            inFlight = group.inFlight
            retryQueue = group.pendingRetries
            deadLetters = group.deadLetters
            lag = group.lag
            topics = group.topics.map { Lag(topic: $0.topic, position: $0.position, end: $0.end, lag: $0.lag) }
            delivered = group.delivered
            acked = group.acked
            nacked = group.nacked
            redelivered = group.redelivered
            deadLettered = group.deadLettered
            ephemeral = group.ephemeral
        }
    }

    struct GroupsJSON: Codable, Sendable { var groups: [GroupJSON] }

    struct DeadLettersJSON: Codable, Sendable {
        var group: String
        var entries: [DeadLetterJSON]
        /// Pass as `after` for the next page; absent when the queue was read to its end.
        var nextAfter: UInt64?
    }

    /// A requeue or purge: `ids`, or `all` (with the filter fields of the listing).
    struct BulkRequest: Codable, Sendable {
        var ids: [UInt64]?
        var all: Bool?
        var type: String?
        var error: String?
        var key: String?
        var since: String?
        var until: String?
        var after: UInt64?

        var filterFields: [String: String] {
            var fields: [String: String] = [:]
            fields["type"] = type
            fields["error"] = error
            fields["key"] = key
            fields["since"] = since
            fields["until"] = until
            return fields
        }
    }

    struct BulkResult: Codable, Sendable {
        var count: Int
        /// Set when the bounded scan stopped before the end of the queue: repeat with it as `after`.
        var nextAfter: UInt64?
    }

    struct ReplayRequest: Codable, Sendable {
        var topic: String?
        /// `beginning`, `end`, an offset (`"offset": 42`) or a time (`"time": "2026-12-07T10:00:00Z"`).
        var from: String?
        var offset: UInt64?
        var time: String?
    }

    struct ReplayJSON: Codable, Sendable { var cursors: [String: UInt64] }

    struct HistoryJSON: Codable, Sendable {
        struct Item: Codable, Sendable {
            var topic: String
            var offset: UInt64
            var event: EventJSON
        }
        var key: String
        var events: [Item]
    }

    struct WhoAmI: Codable, Sendable {
        var principal: String
        var method: String
    }

    func addAdminRoutes(to api: RouterGroup<GatewayContext>) {
        route(.get, "whoami", in: api) { request, context -> Response in
            let identity = try context.requireIdentity()
            return try JSONReply(WhoAmI(principal: identity.principal, method: identity.method)).response(from: request, context: context)
        }

        route(.get, "topics", in: api) { request, context -> Response in
            let bus = try await self.bus(context)
            let stats = try await APIError.mapping { () throws(FerryError) in try await bus.stats() }
            let topics = stats.topics.map { TopicJSON(name: $0.name, firstOffset: $0.firstOffset, nextOffset: $0.nextOffset, events: $0.eventCount) }
            return try JSONReply(TopicsJSON(topics: topics, storedBytes: stats.storedBytes, connections: stats.connections))
                .response(from: request, context: context)
        }

        route(.get, "groups", in: api) { request, context -> Response in
            let bus = try await self.bus(context)
            let groups = try await APIError.mapping { () throws(FerryError) in try await bus.groups() }
            return try JSONReply(GroupsJSON(groups: groups.map(GroupJSON.init))).response(from: request, context: context)
        }

        route(.get, "groups/:group", in: api) { request, context -> Response in
            let group = try context.name("group")
            let bus = try await self.bus(context)
            let groups = try await APIError.mapping { () throws(FerryError) in try await bus.groups() }
            guard let found = groups.first(where: { $0.name == group }) else {
                throw APIError(.notFound, "UNKNOWN_GROUP", "no group '\(group)'")
            }
            return try JSONReply(GroupJSON(found)).response(from: request, context: context)
        }

        route(.get, "groups/:group/dead-letters", in: api) { request, context -> Response in
            let group = try context.name("group")
            let filter = try DeadLetterFilter(fields: request.queryFields)
            let limit = try request.integer("limit", default: 100, in: 1...GatewayLimits.maxPage)
            let after = UInt64(try request.integer("after", default: 0, in: 0...Int.max))
            let bus = try await self.bus(context)
            let scan = try await APIError.mapping { () throws(FerryError) in
                try await DeadLetterScan.run(bus: bus, group: group, filter: filter, after: after, limit: limit)
            }
            return try JSONReply(DeadLettersJSON(group: group, entries: scan.entries.map(DeadLetterJSON.init), nextAfter: scan.nextAfter))
                .response(from: request, context: context)
        }

        route(.get, "groups/:group/dead-letters/:id", in: api) { request, context -> Response in
            let group = try context.name("group")
            guard let id = context.parameters.get("id").flatMap(UInt64.init), id > 0 else { throw APIError.invalid("the id must be a positive integer") }
            let bus = try await self.bus(context)
            guard let entry = try await self.deadLetter(id, group: group, bus: bus) else {
                throw APIError(.notFound, "NOT_FOUND", "no dead letter \(id) in group '\(group)'")
            }
            return try JSONReply(DeadLetterJSON(entry)).response(from: request, context: context)
        }

        route(.post, "groups/:group/dead-letters/requeue", in: api) { request, context -> Response in
            let group = try context.name("group")
            let body = try await request.json(BulkRequest.self, context: context)
            let bus = try await self.bus(context)
            let result = try await self.bulk(body, group: group, bus: bus, purge: false)
            return try JSONReply(result).response(from: request, context: context)
        }

        route(.post, "groups/:group/dead-letters/purge", in: api) { request, context -> Response in
            let group = try context.name("group")
            let body = try await request.json(BulkRequest.self, context: context)
            let bus = try await self.bus(context)
            let result = try await self.bulk(body, group: group, bus: bus, purge: true)
            return try JSONReply(result).response(from: request, context: context)
        }

        route(.post, "groups/:group/replay", in: api) { request, context -> Response in
            let group = try context.name("group")
            let body = try await request.json(ReplayRequest.self, context: context)
            let position = try Self.position(body)
            let bus = try await self.bus(context)
            let cursors = try await APIError.mapping { () throws(FerryError) in
                try await bus.replay(group: group, topic: body.topic, from: position)
            }
            return try JSONReply(ReplayJSON(cursors: cursors)).response(from: request, context: context)
        }

        route(.get, "keys/:key/history", in: api) { request, context -> Response in
            let key = try context.name("key")
            let limit = try request.integer("limit", default: 100, in: 1...GatewayLimits.maxPage)
            let bus = try await self.bus(context)
            let items = try await APIError.mapping { () throws(FerryError) in try await bus.history(key: key, limit: limit) }
            return try JSONReply(HistoryJSON(key: key, events: items.map { .init(topic: $0.topic, offset: $0.offset, event: EventJSON($0.event)) }))
                .response(from: request, context: context)
        }
    }

    /// The dead letter `id` of `group`, if it is there.
    func deadLetter(_ id: UInt64, group: String, bus: EventBus) async throws(APIError) -> DeadLetterEntry? {
        let entries = try await APIError.mapping { () throws(FerryError) in try await bus.deadLetters(group: group, after: id - 1, limit: 1) }
        return entries.first { $0.id == id }
    }

    /// Requeues or purges the named ids, or every entry matching the filter (all of them
    /// without one), scanning at most ten windows of ``GatewayLimits/maxScan`` entries.
    func bulk(_ body: BulkRequest, group: String, bus: EventBus, purge: Bool) async throws(APIError) -> BulkResult {
        func apply(_ ids: [UInt64]?) async throws(APIError) -> Int {
            try await APIError.mapping { () throws(FerryError) in
                purge ? try await bus.purgeDeadLetters(group: group, ids: ids) : try await bus.requeueDeadLetters(group: group, ids: ids)
            }
        }
        if let ids = body.ids {
            guard body.all != true else { throw APIError.invalid("name 'ids' or set 'all', not both") }
            guard ids.count <= GatewayLimits.maxIDs else {
                throw APIError(.contentTooLarge, "BATCH_TOO_LARGE", "at most \(GatewayLimits.maxIDs) ids per request")
            }
            return BulkResult(count: ids.isEmpty ? 0 : try await apply(ids))
        }
        guard body.all == true else { throw APIError.invalid("name the entries in 'ids', or set 'all' (with filter fields to narrow it)") }
        let filter = try DeadLetterFilter(fields: body.filterFields)
        if filter.isEmpty && (body.after ?? 0) == 0 { return BulkResult(count: try await apply(nil)) }
        var after = body.after ?? 0
        var count = 0
        for _ in 0..<10 {
            let scan = try await APIError.mapping { () throws(FerryError) in
                try await DeadLetterScan.run(bus: bus, group: group, filter: filter, after: after, limit: GatewayLimits.maxScan)
            }
            if !scan.entries.isEmpty { count += try await apply(scan.entries.map(\.id)) }
            guard let next = scan.nextAfter else { return BulkResult(count: count) }
            after = next
        }
        return BulkResult(count: count, nextAfter: after)
    }

    static func position(_ body: ReplayRequest) throws(APIError) -> ReplayPosition {
        switch (body.from, body.offset, body.time) {
        case ("beginning"?, nil, nil): return .beginning
        case ("end"?, nil, nil): return .end
        case (nil, let offset?, nil): return .offset(offset)
        case (nil, nil, let time?):
            return .time(try DeadLetterFilter.date(field: "time")(time))
        default:
            throw APIError.invalid("say where to replay from: {\"from\": \"beginning\"}, {\"from\": \"end\"}, {\"offset\": N} or {\"time\": \"ISO 8601\"}")
        }
    }
}
