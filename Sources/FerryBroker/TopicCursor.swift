/// A consumer group's position in one topic.
final class TopicCursor {
    let topic: String
    /// The next offset to deliver for the first time.
    var next: UInt64
    /// Offsets delivered but not yet settled for good (in flight, or waiting for a retry).
    var outstanding: Set<UInt64> = []
    /// The last cursor written to the store.
    var committed: UInt64

    init(topic: String, start: UInt64) {
        self.topic = topic
        self.next = start
        self.committed = start
    }

    /// Every offset below this is settled (acked or dead-lettered).
    var settledBelow: UInt64 { outstanding.min() ?? next }
}
