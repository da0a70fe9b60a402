import FerryProtocol

/// One page of a trace, as the broker answers a `TraceRequest`.
public struct EventTracePage: Sendable {
    public let events: [EventTrace.Event]
    /// More events match: ask for the page at ``nextSkip``.
    public let more: Bool
    public let nextSkip: Int
    public let sampling: String
}

extension EventBus {
    /// The recorded life of the events `selector` names and of the events they caused, page by
    /// page until all are there or `maxEvents` were fetched (then ``EventTrace/truncated``).
    /// An id the broker never recorded (or no longer keeps) gives a trace without events.
    public func trace(_ selector: EventTrace.Selector, maxEvents: Int = 10_000, pageSize: Int = 500) async throws(FerryError)
        -> EventTrace
    {
        var events: [EventTrace.Event] = []
        var skip = 0
        var sampling = ""
        while true {
            let page = try await tracePage(selector, limit: min(pageSize, max(1, maxEvents - events.count)), skip: skip)
            events += page.events
            sampling = page.sampling
            guard page.more, !page.events.isEmpty else { break }
            skip = page.nextSkip
            if events.count >= maxEvents { return EventTrace(events: events, sampling: sampling, truncated: true) }
        }
        return EventTrace(events: events, sampling: sampling, truncated: false)
    }

    /// One page of a trace: at most `limit` events (1000), after the `skip` that earlier pages
    /// returned.
    public func tracePage(_ selector: EventTrace.Selector, limit: Int = 100, skip: Int = 0) async throws(FerryError) -> EventTracePage {
        var request = TraceRequest()
        switch selector {
        case .event(let id): request.eventID = id
        case .key(let key): request.key = key
        case .correlation(let correlation): request.correlationID = correlation
        }
        request.limit = UInt32(clamping: limit)
        request.skip = UInt32(clamping: skip)
        guard case .trace(let reply) = try await connection.request(.trace(request)) else {
            throw FerryError(.unexpectedReply, "expected TraceReply")
        }
        return EventTracePage(
            events: reply.events.map(EventTrace.Event.init(wire:)), more: reply.more, nextSkip: Int(reply.nextSkip),
            sampling: reply.sampling)
    }
}
