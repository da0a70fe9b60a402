import Ferry
import Foundation
import Hummingbird

/// Traces over HTTP: the recorded life of an event, of a key's events or of a saga, as JSON
/// pages (`/api/v1/events/{id}/trace`, `/api/v1/keys/{key}/trace`,
/// `/api/v1/correlations/{id}/trace`) and as a console page (`/console/trace`).
extension HTTPGateway {
    /// One page of a trace: the events in publish order (each with its steps), and where the
    /// next page starts.
    struct TraceJSON: Codable, Sendable {
        var events: [EventTrace.Event]
        var more: Bool
        var nextSkip: Int
        var sampling: String
    }

    func addTraceRoutes(to api: RouterGroup<GatewayContext>) {
        route(.get, "events/:id/trace", in: api) { request, context -> Response in
            try await self.tracePage(.event(id: try context.name("id")), request, context)
        }
        route(.get, "keys/:key/trace", in: api) { request, context -> Response in
            try await self.tracePage(.key(try context.name("key")), request, context)
        }
        route(.get, "correlations/:id/trace", in: api) { request, context -> Response in
            try await self.tracePage(.correlation(try context.name("id")), request, context)
        }
    }

    private func tracePage(_ selector: EventTrace.Selector, _ request: Request, _ context: GatewayContext) async throws -> Response {
        let limit = try request.integer("limit", default: 100, in: 1...GatewayLimits.maxPage)
        let skip = try request.integer("skip", default: 0, in: 0...Int(UInt32.max))
        let bus = try await self.bus(context)
        let page = try await APIError.mapping { () throws(FerryError) in try await bus.tracePage(selector, limit: limit, skip: skip) }
        return try JSONReply(TraceJSON(events: page.events, more: page.more, nextSkip: page.nextSkip, sampling: page.sampling))
            .response(from: request, context: context)
    }

    /// The console's timeline: `?event=ID`, `?key=KEY` or `?correlation=ID`.
    func traceConsolePage(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard context.identity != nil else { return Self.redirect("/console/login") }
        var page = consolePage(request, context, title: "Event trace", nav: "trace")
        let fields = request.queryFields
        let selector: EventTrace.Selector? =
            if let id = fields["event"], !id.isEmpty { .event(id: String(id.prefix(1024))) } else if let key = fields["key"], !key.isEmpty {
                .key(String(key.prefix(1024)))
            } else if let correlation = fields["correlation"], !correlation.isEmpty { .correlation(String(correlation.prefix(1024))) } else {
                nil
            }
        page["event"] = fields["event"] ?? ""
        page["key"] = fields["key"] ?? ""
        page["correlation"] = fields["correlation"] ?? ""
        guard let selector else { return renderConsole("trace", &page, request: request) }
        page["asked"] = true
        do {
            let trace = try await bus(context).trace(selector, maxEvents: GatewayLimits.maxPage)
            page["rows"] = Self.timelineRows(trace)
            page["empty"] = trace.events.isEmpty
            page["truncated"] = trace.truncated
            page["sampling"] = trace.sampling == "all" ? nil : trace.sampling
            page["first"] = trace.events.first.map { EventJSON.timestamp(Date(timeIntervalSince1970: Double($0.publishedAtMicros) / 1e6)) }
        } catch {
            page["problem"] = "\(error)"
        }
        return renderConsole("trace", &page, request: request)
    }

    /// The timeline as template rows: each event (indented by its depth in the chain), its
    /// groups and their steps, times relative to the first publish.
    static func timelineRows(_ trace: EventTrace) -> [[String: Any]] {
        let origin = trace.origin
        func relative(_ micros: Int64) -> String { "+" + EventTrace.duration(microseconds: micros - origin) }
        return trace.tree.map { event, depth -> [String: Any] in
            var row: [String: Any] = [
                "indent": depth * 28, "caused": depth > 0, "type": event.type.isEmpty ? "event" : event.type, "id": event.id,
                "urlID": event.id.urlComponent, "topic": event.topic, "offset": event.offset, "publisher": event.publisher,
                "publishedAt": relative(event.publishedAtMicros), "truncated": event.stepsTruncated,
            ]
            if !event.key.isEmpty {
                row["key"] = event.key
                row["urlKey"] = event.key.urlComponent
            }
            row["groups"] = EventTrace.groups(of: event).map { group -> [String: Any] in
                [
                    "group": group.isEmpty ? "publish" : group,
                    "steps": event.steps.filter { $0.group == group }.map { step -> [String: Any] in
                        ["at": relative(step.atMicros), "text": step.summary, "kind": step.kind.rawValue, "failure": step.isFailure]
                    },
                ]
            }
            return row
        }
    }
}
