/// Damage that recovery found in one topic's log: what an operator needs to know that events
/// were lost to a bad disk or a stray write, beyond a line in the start-up log.
public struct StorageDamage: Sendable, Equatable {
    /// Corrupt regions skipped in the middle of segments.
    public var corruptRegions = 0
    /// Events those regions held (their offsets are never delivered).
    public var lostEvents = 0
    /// Bytes skipped in those regions.
    public var skippedBytes = 0
    /// Bytes cut off torn segment tails (a crash mid-write: never confirmed under `always`
    /// or `batch`).
    public var truncatedBytes = 0

    public init() {}

    public var isEmpty: Bool { self == StorageDamage() }
}
