import FerryRuntime
import FerryStorage

/// A redelivery waiting for its due time.
struct RetryEntry {
    let due: MonotonicInstant
    let topic: String
    let offset: UInt64
    let key: String
    /// The attempt number the redelivery will carry.
    let attempt: UInt32
    /// The event, or nil to read it from the store when due (after a restart).
    let body: [UInt8]?
    let lastError: String
    let origin: RetryOrigin
}

/// Pending redeliveries of one group, earliest due first (a binary min-heap).
struct RetryQueue {
    private var heap: [RetryEntry] = []

    var count: Int { heap.count }
    var first: RetryEntry? { heap.first }
    /// Every entry, in no particular order.
    var entries: [RetryEntry] { heap }

    mutating func push(_ entry: RetryEntry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].due < heap[parent].due else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> RetryEntry? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].due < heap[smallest].due { smallest = left }
            if right < heap.count && heap[right].due < heap[smallest].due { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}
