/// What a trace search looks for: which events, and which page of them.
public struct TraceQuery: Sendable, Equatable {
    public enum Selector: Sendable, Equatable {
        /// The event with this id, and what it caused.
        case eventID(String)
        /// Every event with this key, and what they caused.
        case key(String)
        /// Every event of this correlation id (and the event whose id it is), and what they caused.
        case correlationID(String)
    }

    public var selector: Selector
    /// Events in this page.
    public var limit: Int
    /// Matching events that earlier pages returned.
    public var skip: Int
    /// The most steps kept per event.
    public var maxSteps: Int
    /// The most steps of a page: past it, the page's last events are left to the next page.
    public var maxPageSteps: Int
    /// The most events whose descendants are followed: past it, the chain is cut (and says so).
    public var maxFollowed: Int

    public init(
        selector: Selector, limit: Int = 100, skip: Int = 0, maxSteps: Int = 1000, maxPageSteps: Int = 50_000, maxFollowed: Int = 100_000
    ) {
        self.selector = selector
        self.limit = limit
        self.skip = skip
        self.maxSteps = maxSteps
        self.maxPageSteps = max(maxPageSteps, maxSteps)
        self.maxFollowed = maxFollowed
    }
}

/// One event found by a trace search: its `published` record and what followed, in order.
public struct TracedEventRecord: Sendable, Equatable {
    public var published: TraceRecord
    public var steps: [TraceRecord] = []
    /// More steps were recorded than ``TraceQuery/maxSteps``.
    public var stepsTruncated = false
}

/// A page of a trace search.
public struct TraceSearchResult: Sendable, Equatable {
    public var events: [TracedEventRecord] = []
    /// More events match past this page: ask again with ``nextSkip``.
    public var more = false
    public var nextSkip = 0
    /// The chain had more events than ``TraceQuery/maxFollowed``: later descendants are missing.
    public var chainCut = false
}
