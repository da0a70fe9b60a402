/// Where the trace log lives and how much of it is kept.
public struct TraceLogConfiguration: Sendable, Equatable {
    /// The directory of the trace segments (ferryd: `trace/` in its data directory).
    public var directory: String
    /// A segment is closed and a new one begun past this size.
    public var segmentBytes = 16 << 20
    /// The most bytes kept: past it, the oldest segments are deleted.
    public var maxBytes: Int64 = 1 << 30
    /// Segments whose last record is older than this are deleted; nil keeps them until
    /// `maxBytes` needs the room.
    public var maxAgeSeconds: Int? = 7 * 24 * 3600
    /// The most records waiting for the writer: past it, new ones are dropped and counted, so
    /// that a slow disk costs trace records, never broker memory or speed.
    public var maxQueuedRecords = 200_000
    /// The most bytes waiting for the writer (a publish's record holds the stored event until
    /// the writer has read it), with the same effect past it.
    public var maxQueuedBytes = 64 << 20

    public init(directory: String) {
        self.directory = directory
    }
}

/// What the trace log has done since it was opened.
public struct TraceLogStatistics: Sendable, Equatable {
    /// Records written to segments.
    public var written: UInt64 = 0
    /// Records dropped because the writer was behind (``TraceLogConfiguration/maxQueuedRecords``).
    public var dropped: UInt64 = 0
    /// Records deleted with their segments by retention.
    public var expired: UInt64 = 0
    /// Records that could not be written (a disk error); the writer goes on with the next batch.
    public var failed: UInt64 = 0
    /// Bytes the segments hold now.
    public var storedBytes: Int64 = 0

    public init() {}
}
