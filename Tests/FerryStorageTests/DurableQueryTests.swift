import FerryStorage
import Foundation
import Testing

@Suite("DurableEventLog: offsets by timestamp, history by key, recent ids")
struct DurableQueryTests {
    @Test("offset(atOrAfter:) finds the first event at or after a timestamp", arguments: [4096, 64 << 20])
    func offsetByTimestamp(segmentBytes: Int) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        // Timestamps 1000, 1010, 1020, ... with each tenth one repeated by the next event.
        let timestamps = (0..<3_000).map { n -> Int64 in 1_000 + Int64(n % 10 == 1 ? n - 1 : n) * 10 }
        let events = timestamps.enumerated().map {
            NewEvent(key: "", timestampMicros: $0.element, body: body(UInt64($0.offset)) + [UInt8](repeating: 1, count: 60))
        }
        let configure: (inout DurableStoreConfiguration) -> Void = { $0.defaults.segmentBytes = segmentBytes }
        do {
            let store = try openStore(directory, configure)
            try appendEach(store, topic: "t", events)
            Self.check(store, timestamps)
            store.close()
        }
        let store = try openStore(directory, configure)
        defer { store.close() }
        Self.check(store, timestamps)
    }

    static func check(_ store: DurableEventLog, _ timestamps: [Int64], sourceLocation: SourceLocation = #_sourceLocation) {
        let count = UInt64(timestamps.count)
        func expected(_ timestamp: Int64) -> UInt64 { UInt64(timestamps.firstIndex { $0 >= timestamp } ?? timestamps.count) }
        var probes: [Int64] = [Int64.min, 0, 999, 1_000, 1_001, 1_010, 1_011, timestamps.last!, timestamps.last! + 1, .max]
        probes += stride(from: 0, to: timestamps.count, by: 37).flatMap { [timestamps[$0], timestamps[$0] - 1, timestamps[$0] + 5] }
        for probe in probes {
            #expect(
                (try? store.offset(topic: "t", atOrAfter: probe)) == expected(probe), "timestamp \(probe)", sourceLocation: sourceLocation)
        }
        #expect(timestamps[10] == timestamps[11], sourceLocation: sourceLocation)
        #expect(
            (try? store.offset(topic: "t", atOrAfter: timestamps[11])) == 10, "the first of equal timestamps",
            sourceLocation: sourceLocation)
        #expect((try? store.offset(topic: "t", atOrAfter: timestamps[11] + 1)) == 12, sourceLocation: sourceLocation)
        #expect((try? store.offset(topic: "t", atOrAfter: .max)) == count, "past the last: the next offset", sourceLocation: sourceLocation)
        #expect((try? store.offset(topic: "unknown", atOrAfter: 5)) == 0, sourceLocation: sourceLocation)
    }

    @Test("history(key:limit:) returns the key's events from every topic, in offset order per topic")
    func history() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let configure: (inout DurableStoreConfiguration) -> Void = { $0.defaults.segmentBytes = 4096 }
        let keys = ["order-1", "order-2", "order-3"]
        var expected: [String: [(offset: UInt64, value: UInt64)]] = [:]
        do {
            let store = try openStore(directory, configure)
            for n in 0..<400 {
                let topic = n % 3 == 0 ? "payments" : "orders"
                let key = keys[(n / 2) % 3]
                let offset = try store.append(
                    topic: topic,
                    events: [NewEvent(key: key, timestampMicros: Int64(n), body: body(UInt64(n)) + [UInt8](repeating: 7, count: 40))])[0]
                if key == "order-2" { expected[topic, default: []].append((offset, UInt64(n))) }
            }
            #expect(segmentFiles(directory, topic: "orders").count > 1)
            Self.checkHistory(store, expected)
            store.close()
        }
        let store = try openStore(directory, configure)
        defer { store.close() }
        Self.checkHistory(store, expected)
        #expect(try store.history(key: "order-2", limit: 5).count == 5)
        #expect(try store.history(key: "order-2", limit: 0).isEmpty)
        #expect(try store.history(key: "missing", limit: 100).isEmpty)
        #expect(try store.history(key: "order", limit: 100).isEmpty, "keys match exactly, not by prefix")
    }

    static func checkHistory(
        _ store: DurableEventLog, _ expected: [String: [(offset: UInt64, value: UInt64)]],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let found = try? store.history(key: "order-2", limit: 10_000) else {
            Issue.record("history threw", sourceLocation: sourceLocation)
            return
        }
        #expect(found.count == expected.values.reduce(0) { $0 + $1.count }, sourceLocation: sourceLocation)
        #expect(found.allSatisfy { $0.event.key == "order-2" }, sourceLocation: sourceLocation)
        for topic in ["orders", "payments"] {
            let events = found.filter { $0.topic == topic }.map(\.event)
            #expect(events.map(\.offset) == expected[topic]?.map(\.offset), "\(topic) offsets", sourceLocation: sourceLocation)
            #expect(
                events.map { value(Array($0.body.prefix(8))) } == expected[topic]?.map(\.value), "\(topic) bodies",
                sourceLocation: sourceLocation)
            #expect(events.map(\.timestampMicros) == expected[topic]?.map { Int64($0.value) }, sourceLocation: sourceLocation)
        }
    }

    @Test("recentEventIDs returns ids stored within the window with their offsets, most recent up to the limit")
    func recentIDs() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let now = nowMicros()
        let hourAgo = now - 3_600_000_000
        do {
            let store = try openStore(directory) { $0.defaults.segmentBytes = 4096 }
            // 100 old events (outside a one-minute window), then 50 recent ones, some without an id.
            try appendEach(store, topic: "t", (0..<100).map { item($0, timestamp: hourAgo + Int64($0), id: "old-\($0)") })
            try appendEach(store, topic: "t", (100..<150).map { item($0, timestamp: now + Int64($0), id: $0 % 10 == 0 ? "" : "new-\($0)") })
            _ = try store.append(topic: "u", events: [item(0, timestamp: now, id: "u-0")])
            store.close()
        }
        let store = try openStore(directory) { $0.defaults.segmentBytes = 4096 }
        defer { store.close() }
        let window: Int64 = 60_000_000
        let expected = (100..<150).filter { $0 % 10 != 0 }.map { ("t", "new-\($0)", UInt64($0)) } + [("u", "u-0", 0)]
        let ids = store.recentEventIDs(storedSince: nowMicros() - window, limit: 1_000)
        #expect(ids.map { "\($0.topic)|\($0.id)|\($0.offset)" }.sorted() == expected.map { "\($0.0)|\($0.1)|\($0.2)" }.sorted())
        let inTopic = ids.filter { $0.topic == "t" }.map(\.offset)
        #expect(inTopic == inTopic.sorted(), "offset order within a topic")

        // The limit holds across topics; within a topic the most recent ids are kept.
        let limited = store.recentEventIDs(storedSince: nowMicros() - window, limit: 5)
        #expect(limited.count == 5)
        let recentOfT = limited.filter { $0.topic == "t" }.map(\.id)
        #expect(
            recentOfT == Array(["new-145", "new-146", "new-147", "new-148", "new-149"].suffix(recentOfT.count)), "the most recent ones")
        #expect(store.recentEventIDs(storedSince: nowMicros() - 2 * 3_600_000_000, limit: 10_000).filter { $0.topic == "t" }.count == 145)
    }
}
