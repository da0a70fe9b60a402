import FerryStorage
import Foundation
import Testing

@Suite("DurableEventLog: retention by size and age")
struct DurableRetentionTests {
    static let count: UInt64 = 150

    static func configure(_ retention: RetentionPolicy) -> (inout DurableStoreConfiguration) -> Void {
        { configuration in
            configuration.defaults.segmentBytes = 4096
            configuration.defaults.retention = retention
        }
    }

    /// Fills topic "t" with `count` events (one append each, so segments roll), stamped by `timestamp`.
    static func fill(_ store: DurableEventLog, timestamp: (UInt64) -> Int64 = { _ in nowMicros() }) throws {
        try appendEach(
            store, topic: "t",
            (0..<count).map { NewEvent(key: "k", timestampMicros: timestamp($0), body: body($0) + [UInt8](repeating: 3, count: 100)) })
    }

    static func segments(_ directory: URL) -> [(base: UInt64, size: Int)] {
        segmentFiles(directory, topic: "t").map { (baseOffset($0)!, fileSize($0)) }
    }

    static func firstValue(_ store: DurableEventLog) throws -> UInt64? {
        try store.read(topic: "t", from: 0, limit: 1).first.flatMap { value(Array($0.body.prefix(8))) }
    }

    @Test("maxBytes deletes whole old segments until the topic fits; the lower bound moves; other topics are untouched")
    func maxBytes() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let before: [(base: UInt64, size: Int)]
        var limit = 0
        do {
            let store = try openStore(directory, Self.configure(RetentionPolicy()))
            try Self.fill(store)
            store.close()
            before = Self.segments(directory)
            #expect(before.count >= 4)
            limit = before.suffix(2).reduce(0) { $0 + $1.size } + 10
        }
        // Reopen with the size limit: the oldest segments go until what is left fits.
        var expectedLeft = before
        while expectedLeft.count > 1 && expectedLeft.reduce(0, { $0 + $1.size }) > limit { expectedLeft.removeFirst() }
        #expect(expectedLeft.count == 2)
        let store = try openStore(directory) { configuration in
            Self.configure(RetentionPolicy(maxBytes: limit))(&configuration)
            configuration.topics["u"] = TopicLogConfiguration()
        }
        defer { store.close() }
        try appendEach(store, topic: "u", (0..<UInt64(200)).map { item($0) })
        #expect(store.applyRetention(consumedBelow: ["t": Self.count, "u": 0]) == 0)
        #expect(Self.segments(directory).map(\.base) == expectedLeft.map(\.base))
        #expect(store.bounds(topic: "t") == expectedLeft[0].base..<Self.count)
        #expect(try Self.firstValue(store) == expectedLeft[0].base, "reads start at the first retained event")
        #expect(store.bounds(topic: "u") == 0..<200, "a topic without a limit keeps everything")
        #expect(store.applyRetention(consumedBelow: ["t": Self.count]) == 0)
        #expect(Self.segments(directory).count == 2, "nothing more to delete")
        #expect(try store.append(topic: "t", events: [item(Self.count)]) == [Self.count])
    }

    @Test("keepUnconsumed keeps a segment some group has not consumed, and reports nothing dropped")
    func keepUnconsumed() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory, Self.configure(RetentionPolicy(maxBytes: 1, keepUnconsumed: true)))
        defer { store.close() }
        try Self.fill(store)
        let bases = Self.segments(directory).map(\.base)
        #expect(bases.count >= 4)
        // Consumed into the second segment: only the first may go.
        #expect(store.applyRetention(consumedBelow: ["t": bases[1] + 5]) == 0)
        #expect(Self.segments(directory).map(\.base) == Array(bases.dropFirst()))
        #expect(store.bounds(topic: "t") == bases[1]..<Self.count)
        // Exactly at a segment's end: that segment is consumed.
        #expect(store.applyRetention(consumedBelow: ["t": bases[2]]) == 0)
        #expect(store.bounds(topic: "t").lowerBound == bases[2])
        // No group reads the topic: nothing is unconsumed; the active segment always stays.
        #expect(store.applyRetention(consumedBelow: [:]) == 0)
        #expect(Self.segments(directory).map(\.base) == [bases.last!])
        #expect(store.bounds(topic: "t") == bases.last!..<Self.count)
        #expect(try Self.firstValue(store) == bases.last!)
    }

    @Test("without keepUnconsumed, unconsumed segments are deleted and the dropped events counted")
    func dropUnconsumed() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let store = try openStore(directory, Self.configure(RetentionPolicy()))
            try Self.fill(store)
            store.close()
        }
        let before = Self.segments(directory)
        let limit = before.suffix(2).reduce(0) { $0 + $1.size }
        let store = try openStore(directory, Self.configure(RetentionPolicy(maxBytes: limit, keepUnconsumed: false)))
        let consumed = before[1].base + 5
        let left = before.suffix(2).map(\.base)
        // Every event from `consumed` up to the first kept segment was never consumed.
        #expect(store.applyRetention(consumedBelow: ["t": consumed]) == left[0] - consumed)
        #expect(Self.segments(directory).map(\.base) == left)
        #expect(store.bounds(topic: "t") == left[0]..<Self.count)
        store.close()

        let reopened = try openStore(directory, Self.configure(RetentionPolicy(maxBytes: limit, keepUnconsumed: false)))
        defer { reopened.close() }
        #expect(reopened.bounds(topic: "t") == left[0]..<Self.count, "deleted segments stay deleted")
        #expect(try Self.firstValue(reopened) == left[0])
        #expect(try reopened.append(topic: "t", events: [item(Self.count)]) == [Self.count])
    }

    @Test("maxAgeSeconds deletes segments whose newest event is older; never the active segment")
    func maxAge() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let now = nowMicros()
        let old = now - 2 * 3_600_000_000
        let store = try openStore(directory, Self.configure(RetentionPolicy(maxAgeSeconds: 3_600)))
        defer { store.close() }
        try Self.fill(store)  // recent everywhere: nothing expires
        let bases = Self.segments(directory).map(\.base)
        #expect(store.applyRetention(consumedBelow: ["t": Self.count]) == 0)
        #expect(Self.segments(directory).map(\.base) == bases)

        // A second topic: old events in the first segments, recent ones after.
        let boundary = bases[2]
        try appendEach(
            store, topic: "o",
            (0..<Self.count).map {
                NewEvent(key: "k", timestampMicros: $0 < boundary + 3 ? old : now, body: body($0) + [UInt8](repeating: 3, count: 100))
            })
        let oBases = segmentFiles(directory, topic: "o").compactMap(baseOffset)
        #expect(oBases == bases, "same events, same segments")
        #expect(store.applyRetention(consumedBelow: ["t": Self.count, "o": Self.count]) == 0)
        #expect(
            segmentFiles(directory, topic: "o").compactMap(baseOffset) == Array(oBases.dropFirst(2)),
            "the segment with a recent event stays")
        #expect(store.bounds(topic: "o") == boundary..<Self.count)

        // Everything old: all but the active segment go.
        try appendEach(
            store, topic: "x",
            (0..<Self.count).map { NewEvent(key: "k", timestampMicros: old, body: body($0) + [UInt8](repeating: 3, count: 100)) })
        #expect(store.applyRetention(consumedBelow: [:]) == 0)
        #expect(segmentFiles(directory, topic: "x").compactMap(baseOffset) == [bases.last!])
        #expect(store.bounds(topic: "x") == bases.last!..<Self.count)
        #expect(try store.append(topic: "x", events: [item(Self.count, timestamp: old)]) == [Self.count])
    }

    @Test("with no limits, retention deletes nothing")
    func noLimits() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory, Self.configure(RetentionPolicy(keepUnconsumed: false)))
        defer { store.close() }
        try Self.fill(store) { _ in 1 }
        let bases = Self.segments(directory).map(\.base)
        #expect(store.applyRetention(consumedBelow: ["t": 0]) == 0)
        #expect(Self.segments(directory).map(\.base) == bases)
        #expect(store.bounds(topic: "t") == 0..<Self.count)
    }
}
