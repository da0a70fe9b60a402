import FerryStorage

/// A consumer group's position in one topic.
final class TopicCursor {
    let topic: String
    /// The next offset to deliver for the first time.
    var next: UInt64 {
        didSet { dirty = true }
    }
    /// Offsets delivered but not yet settled for good (in flight, or waiting for a retry),
    /// with the attempt they were last delivered or scheduled as.
    let outstanding = UInt64Map<UInt32>()
    /// Changed since the last save.
    var dirty = true
    /// The number of ``topic`` in the trace's table.
    @exclusivity(unchecked) var traceTopic = TraceNameCache()
    /// What the in-memory store was last told it may free.
    var released: UInt64 = 0

    init(topic: String, start: UInt64) {
        self.topic = topic
        self.next = start
    }

    func track(_ offset: UInt64, attempt: UInt32) {
        outstanding.set(offset, attempt)
        dirty = true
    }

    func settle(_ offset: UInt64) {
        if outstanding.removeValue(forKey: offset) != nil { dirty = true }
    }

    /// Every offset below this is settled (acked or dead-lettered).
    var settledBelow: UInt64 { outstanding.minKey ?? next }
}
