extension TraceLog {
    /// Searches the whole log, oldest record first, for one page of `query`.
    ///
    /// One pass: a `published` record matches the selector, or names a matched event as its
    /// cause (a descendant, published after it); the other records of a page's events are
    /// gathered as they come. Each page reads the log from the start again (earlier pages'
    /// events are counted, not kept), so a client holds no cursor and the broker no state
    /// between pages. Runs on the caller's thread and gives up (with what it found) once
    /// `shouldStop` says so, checked between segments; memory is bounded by
    /// ``TraceQuery/maxSteps``, ``TraceQuery/maxPageSteps`` and ``TraceQuery/maxFollowed``.
    public func search(_ query: TraceQuery, shouldStop: () -> Bool = { false }) -> TraceSearchResult {
        var search = TraceSearch(query: query)
        for segment in segments {
            if shouldStop() { break }
            guard let bytes = segment.read() else { continue }
            bytes.withUnsafeBytes { TraceSegment.scan($0) { search.visit($0) } }
        }
        return search.finished
    }
}

/// The state of one search pass (see ``TraceLog/search(_:)``).
struct TraceSearch {
    private struct EventAddress: Hashable {
        let topic: String
        let offset: UInt64
    }

    let query: TraceQuery
    private var result = TraceSearchResult()
    private var followed: Set<String> = []
    /// Events matched so far, to count an event once when its `published` record appears
    /// twice (a restart under `failures` sampling records it again at its next failure).
    private var counted: Set<EventAddress> = []
    private var matched = 0
    private var pageIndex: [EventAddress: Int] = [:]
    private var pageSteps = 0
    /// The page dropped its last events to stay within ``TraceQuery/maxPageSteps``: no more
    /// events join it.
    private var pageClosed = false

    init(query: TraceQuery) {
        self.query = query
    }

    /// The page, with where the next one starts.
    var finished: TraceSearchResult {
        var finished = result
        finished.nextSkip = finished.more ? query.skip + finished.events.count : 0
        return finished
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
        let address = EventAddress(topic: record.topic, offset: record.offset)
        guard !counted.contains(address) else { return }
        if followed.count < query.maxFollowed {
            if !record.eventID.isEmpty { followed.insert(record.eventID) }
            counted.insert(address)
        } else {
            result.chainCut = true
        }
        matched += 1
        guard matched > query.skip else { return }
        guard result.events.count < query.limit, !pageClosed else {
            result.more = true
            return
        }
        pageIndex[address] = result.events.count
        result.events.append(TracedEventRecord(published: record))
    }

    private mutating func add(_ record: TraceRecord, to index: Int) {
        guard result.events[index].steps.count < query.maxSteps else {
            result.events[index].stepsTruncated = true
            return
        }
        result.events[index].steps.append(record)
        pageSteps += 1
        // Past the page's budget, its last events go (to the next page), never the first.
        while pageSteps > query.maxPageSteps && result.events.count > 1 {
            let last = result.events.removeLast()
            pageSteps -= last.steps.count
            pageIndex[EventAddress(topic: last.published.topic, offset: last.published.offset)] = nil
            result.more = true
            pageClosed = true
        }
    }
}
