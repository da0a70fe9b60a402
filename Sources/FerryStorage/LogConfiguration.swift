/// When an append counts as durable.
public enum FsyncPolicy: String, Sendable, Codable, CaseIterable {
    /// A confirm follows an fsync that began after the event was written; appends made while an
    /// fsync runs share the next one, which starts as soon as that one ends.
    case always
    /// The same promise as `always` (the default): group commit, where an fsync starts as soon as
    /// there is something to sync and none is running. Unlike `always`, it honours
    /// ``TopicLogConfiguration/batchWindowMicros``, a least spacing between fsyncs for disks
    /// where each one costs much (off by default).
    case batch
    /// Never fsync; the OS writes back when it likes. Confirms go out after the write.
    case never
}

/// How long a topic keeps events.
public struct RetentionPolicy: Sendable, Equatable {
    /// Drop segments whose newest event is older than this (nil: keep forever).
    public var maxAgeSeconds: Int?
    /// Drop the oldest segments while the topic holds more than this (nil: no limit).
    public var maxBytes: Int?
    /// Keep a segment some consumer group has not consumed yet, even past the limits.
    public var keepUnconsumed = true

    public init(maxAgeSeconds: Int? = nil, maxBytes: Int? = nil, keepUnconsumed: Bool = true) {
        self.maxAgeSeconds = maxAgeSeconds
        self.maxBytes = maxBytes
        self.keepUnconsumed = keepUnconsumed
    }
}

/// Settings of one topic's log.
public struct TopicLogConfiguration: Sendable, Equatable {
    public var fsync: FsyncPolicy = .batch
    /// The least spacing between two fsyncs of `.batch`, in microseconds: zero (the default)
    /// starts an fsync as soon as the previous one ends; more trades latency at low rates for
    /// fewer, larger fsyncs (PostgreSQL's `commit_delay`). `.always` ignores it.
    public var batchWindowMicros = 0
    /// A segment rolls at this size…
    public var segmentBytes = 64 << 20
    /// …or this age.
    public var segmentAgeSeconds = 3600
    public var retention = RetentionPolicy()

    public init() {}
}

/// Settings of the durable store.
public struct DurableStoreConfiguration: Sendable {
    /// Where topics and group state live.
    public var directory: String
    /// Defaults for every topic.
    public var defaults = TopicLogConfiguration()
    /// Overrides by topic name.
    public var topics: [String: TopicLogConfiguration] = [:]
    /// Most appended bytes that may wait in memory for an fdatasync, across all topics: a log
    /// that fsyncs keeps each append until a sync covers it, to write it again after a
    /// write-back error. Past it, publishes fail until syncs catch up (the disk is too slow or
    /// failing). Far above what a working disk leaves waiting (a few milliseconds of appends).
    public var maxUnsyncedBytes = 256 << 20
    /// The longest a cursor move (an ack) waits in the cursor journal before an fdatasync covers
    /// it: after a power cut a group's cursors go back by at most what was acked in this interval
    /// (those events are delivered again). Group definitions, retries and dead letters are synced
    /// before the broker relies on them, whatever this says.
    public var groupStateSyncMilliseconds = 200
    /// Most descriptors segment files keep open (nil: half the process's descriptor limit).
    /// Idle ones past it (rolled segments, mostly) are closed and opened again when read; an
    /// active segment of a topic that fsyncs keeps two, so this also bounds the topics: a new
    /// one past half of it is refused.
    public var maxOpenSegmentFiles: Int?
    /// A topic not appended to for this long may give up its runway (and then its descriptors)
    /// when segment files hold more than their budget.
    public var idleTopicMilliseconds = 1000
    /// The zero runway kept ahead of active segments of topics that fsync (tests make it small).
    var runway = Preallocator.Configuration()

    public init(directory: String) {
        self.directory = directory
    }

    func configuration(for topic: String) -> TopicLogConfiguration { topics[topic] ?? defaults }
}
