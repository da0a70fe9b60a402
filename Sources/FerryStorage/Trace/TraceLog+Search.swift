extension TraceLog {
    /// Searches the whole log, oldest record first, for one page of `query`.
    ///
    /// One pass: a `published` record matches the selector, or names a matched event as its
    /// cause (a descendant, published after it); the other records of a page's events are
    /// gathered as they come. Each page reads the log from the start again (earlier pages'
    /// events are counted, not kept), so a client holds no cursor and the broker no state
    /// between pages. Runs on the caller's thread; memory is bounded by the page and by
    /// ``TraceQuery/maxFollowed``.
    public func search(_ query: TraceQuery) -> TraceSearchResult {
        var search = TraceSearch(query: query)
        for segment in segments {
            guard let bytes = segment.read() else { continue }
            bytes.withUnsafeBytes { TraceSegment.scan($0) { search.visit($0) } }
        }
        return search.result
    }
}

/// The state of one search pass (see ``TraceLog/search(_:)``).
struct TraceSearch {
    private struct EventAddress: Hashable {
        let topic: String
        let offset: UInt64
    }

    let query: TraceQuery
    private(set) var result = TraceSearchResult()
    private var followed: Set<String> = []
    private var matched = 0
    private var pageIndex: [EventAddress: Int] = [:]

    init(query: TraceQuery) {
        self.query = query
    }

    mutating func visit(_ record: TraceRecord) {
        switch record.kind {
        case .published: visitPublished(record)
        case .replayed:
            // A cursor moved back over a page's events: each of them is delivered again.
            for index in result.events.indices {
                let event = result.events[index].published
                if event.topic == record.topic && event.offset >= record.offset && Int64(event.offset) < record.number
                    && event.timeMicros <= record.timeMicros
                {
                    add(record, to: index)
                }
            }
        default:
            if let index = pageIndex[EventAddress(topic: record.topic, offset: record.offset)] { add(record, to: index) }
        }
    }

    private mutating func visitPublished(_ record: TraceRecord) {
        let selected: Bool
        switch query.selector {
        case .eventID(let id): selected = record.eventID == id
        case .key(let key): selected = record.key == key
        case .correlationID(let correlation): selected = record.correlationID == correlation || record.eventID == correlation
        }
        guard selected || (!record.causationID.isEmpty && followed.contains(record.causationID)) else { return }
        if followed.count < query.maxFollowed {
            if !record.eventID.isEmpty { followed.insert(record.eventID) }
        } else {
            result.chainCut = true
        }
        matched += 1
        guard matched > query.skip else { return }
        guard result.events.count < query.limit else {
            result.more = true
            return
        }
        pageIndex[EventAddress(topic: record.topic, offset: record.offset)] = result.events.count
        result.events.append(TracedEventRecord(published: record))
        result.nextSkip = matched
    }

    private mutating func add(_ record: TraceRecord, to index: Int) {
        if result.events[index].steps.count < query.maxSteps {
            result.events[index].steps.append(record)
        } else {
            result.events[index].stepsTruncated = true
        }
    }
}
