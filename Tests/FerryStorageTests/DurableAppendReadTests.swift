import FerryStorage
import Foundation
import Testing

@Suite("DurableEventLog: append, read, bounds, reopen, segments")
struct DurableAppendReadTests {
    /// Events with varied keys, ids, timestamps and body sizes (including empty).
    static func varied(_ range: Range<Int>, now: Int64) -> [NewEvent] {
        range.map { n in
            NewEvent(
                key: n % 3 == 0 ? "" : "key-\(n % 4)-ü", timestampMicros: now - Int64(1_000 * (100 - n)),
                body: (0..<(n * 37 % 300)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) }, id: n % 5 == 4 ? "" : "id-\(n)")
        }
    }

    static func expectEqual(
        _ stored: [StoredEvent], _ expected: [NewEvent], from offset: UInt64, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(stored.map(\.offset) == Array(offset..<(offset + UInt64(expected.count))), sourceLocation: sourceLocation)
        #expect(stored.map(\.key) == expected.map(\.key), sourceLocation: sourceLocation)
        #expect(stored.map(\.timestampMicros) == expected.map(\.timestampMicros), sourceLocation: sourceLocation)
        #expect(stored.map(\.body) == expected.map(\.body), sourceLocation: sourceLocation)
    }

    @Test("a new store is empty; offsets start at 0 per topic; reads from the middle honour the limit")
    func appendAndRead() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory)
        defer { store.close() }
        #expect(store.topics.isEmpty)
        #expect(store.storedBytes == 0)
        #expect(store.bounds(topic: "a") == 0..<0)
        #expect(try store.read(topic: "a", from: 0, limit: 10).isEmpty)

        #expect(try store.append(topic: "a", events: (0..<3).map { item($0) }) == [0, 1, 2])
        #expect(try store.append(topic: "b.c", events: [item(100)]) == [0])
        #expect(try store.append(topic: "a", events: (3..<10).map { item($0) }) == Array(3..<10))
        #expect(try store.append(topic: "b.c", events: [item(101), item(102)]) == [1, 2])
        #expect(store.bounds(topic: "a") == 0..<10)
        #expect(store.bounds(topic: "b.c") == 0..<3)
        #expect(Set(store.topics) == ["a", "b.c"])
        #expect(store.storedBytes == 13 * recordSize(key: "k", bodyCount: 8))
        #expect(segmentFiles(directory, topic: "a").map(fileSize) == [10 * recordSize(key: "k", bodyCount: 8)], "batches leave no gaps")

        #expect(try store.read(topic: "a", from: 0, limit: 100).map { value($0.body) } == Array(0..<10))
        #expect(try store.read(topic: "a", from: 4, limit: 3).map(\.offset) == [4, 5, 6])
        #expect(try store.read(topic: "a", from: 4, limit: 3).map { value($0.body) } == [4, 5, 6])
        #expect(try store.read(topic: "a", from: 9, limit: 10).map(\.offset) == [9])
        #expect(try store.read(topic: "a", from: 10, limit: 10).isEmpty, "the next offset is not readable yet")
        #expect(try store.read(topic: "a", from: 1_000, limit: 10).isEmpty)
        #expect(try store.read(topic: "a", from: 0, limit: 0).isEmpty)
        #expect(try store.read(topic: "a", from: 2, limit: .max).map(\.offset) == Array(2..<10))
        #expect(try store.read(topic: "b.c", from: 1, limit: 10).map { value($0.body) } == [101, 102])
        #expect(try store.append(topic: "a", events: []) == [])
        #expect(store.bounds(topic: "a") == 0..<10)
    }

    @Test("events survive close and reopen with identical bytes, keys and timestamps; ids are kept")
    func reopen() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let now = nowMicros()
        let first = Self.varied(0..<40, now: now)
        let second = Self.varied(40..<55, now: now)
        do {
            let store = try openStore(directory)
            _ = try store.append(topic: "orders", events: Array(first[0..<25]))
            _ = try appendEach(store, topic: "orders", Array(first[25...]))
            _ = try store.append(topic: "refunds", events: second)
            store.close()
        }
        let store = try openStore(directory)
        defer { store.close() }
        #expect(store.recovery.topics == 2)
        #expect(store.recovery.records == 55)
        #expect(store.recovery.truncatedBytes == 0)
        #expect(store.recovery.corruptRecords == 0)
        #expect(store.recovery.problems.isEmpty)
        #expect(Set(store.topics) == ["orders", "refunds"])
        #expect(store.bounds(topic: "orders") == 0..<40)
        #expect(store.bounds(topic: "refunds") == 0..<15)
        #expect(store.durableEnd(topic: "orders") == 40, "what was on disk at open is durable")
        Self.expectEqual(try store.read(topic: "orders", from: 0, limit: 100), first, from: 0)
        Self.expectEqual(try store.read(topic: "orders", from: 17, limit: 5), Array(first[17..<22]), from: 17)
        Self.expectEqual(try store.read(topic: "refunds", from: 0, limit: 100), second, from: 0)
        let expectedBytes = (first + second).reduce(0) { $0 + recordSize(key: $1.key, id: $1.id, bodyCount: $1.body.count) }
        #expect(store.storedBytes == expectedBytes)

        // Ids come back with their offsets; events without an id are left out.
        let ids = store.recentEventIDs(storedSince: nowMicros() - 3_600_000_000, limit: 1_000)
        let expectedIDs = [("orders", first), ("refunds", second)].flatMap { topic, events in
            events.enumerated().filter { !$0.element.id.isEmpty }.map { "\(topic)/\($0.element.id)@\($0.offset)" }
        }
        #expect(ids.map { "\($0.topic)/\($0.id)@\($0.offset)" }.sorted() == expectedIDs.sorted())

        // Appending continues where the log ended.
        #expect(try store.append(topic: "orders", events: [item(40, id: "new")]) == [40])
        #expect(try store.read(topic: "orders", from: 39, limit: 10).map(\.offset) == [39, 40])
    }

    @Test("small segmentBytes rolls several .log files; reads cross segment boundaries, before and after reopen")
    func segmentRoll() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let events = (0..<100).map { n in
            NewEvent(key: "k", timestampMicros: Int64(n), body: body(UInt64(n)) + [UInt8](repeating: UInt8(n), count: 200))
        }
        let size = recordSize(key: "k", bodyCount: 208)
        let configure: (inout DurableStoreConfiguration) -> Void = { $0.defaults.segmentBytes = 4096 }
        do {
            let store = try openStore(directory, configure)
            #expect(try appendEach(store, topic: "t", events) == Array(0..<100))
            let files = segmentFiles(directory, topic: "t")
            #expect(files.count >= 5)
            #expect(files.compactMap(baseOffset).first == 0)
            #expect(files.compactMap(baseOffset) == files.compactMap(baseOffset).sorted())
            for file in files.dropLast() {
                #expect(fileSize(file) >= 4096 && fileSize(file) < 4096 + size, "a segment rolls once it reaches segmentBytes")
            }
            let bases = files.compactMap(baseOffset)
            for base in bases.dropFirst() {
                #expect(
                    try store.read(topic: "t", from: base - 2, limit: 4).map { value(Array($0.body.prefix(8))) }
                        == Array((base - 2)..<(base + 2)))
            }
            Self.expectEqual(try store.read(topic: "t", from: 0, limit: 1_000), events, from: 0)
            store.close()
        }
        let store = try openStore(directory, configure)
        defer { store.close() }
        #expect(store.bounds(topic: "t") == 0..<100)
        #expect(store.storedBytes == 100 * size)
        Self.expectEqual(try store.read(topic: "t", from: 0, limit: 1_000), events, from: 0)
        let bases = segmentFiles(directory, topic: "t").compactMap(baseOffset)
        Self.expectEqual(
            try store.read(topic: "t", from: bases[1], limit: 30), Array(events[Int(bases[1])..<Int(bases[1] + 30)]), from: bases[1])
        #expect(try appendEach(store, topic: "t", (100..<120).map { item($0) }) == Array(100..<120))
        #expect(try store.read(topic: "t", from: 95, limit: 10).map(\.offset) == Array(95..<105))
        #expect(try store.read(topic: "t", from: 100, limit: 100).map { value($0.body) } == Array(100..<120))
    }

    @Test("a batch larger than segmentBytes stays in one segment; the next append rolls")
    func bigBatch() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) { $0.defaults.segmentBytes = 4096 }
        defer { store.close() }
        _ = try store.append(topic: "t", events: (0..<200).map { item($0) })
        #expect(segmentFiles(directory, topic: "t").count == 1)
        #expect(try store.append(topic: "t", events: [item(200)]) == [200])
        #expect(segmentFiles(directory, topic: "t").compactMap(baseOffset) == [0, 200])
        #expect(try store.read(topic: "t", from: 198, limit: 10).map { value($0.body) } == [198, 199, 200])
    }

    @Test("after one large batch every offset reads back (the sparse index points at record starts)")
    func indexAfterBatch() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let events = (0..<3_000).map {
            NewEvent(key: "k", timestampMicros: Int64($0), body: body(UInt64($0)) + [UInt8](repeating: 9, count: 50))
        }
        let check: (DurableEventLog) throws -> Void = { store in
            for offset in stride(from: UInt64(0), to: 3_000, by: 37) + [2_999] {
                let read = try store.read(topic: "t", from: offset, limit: 2)
                #expect(read.map(\.offset) == Array(offset..<min(offset + 2, 3_000)))
                #expect(read.first.flatMap { value(Array($0.body.prefix(8))) } == offset)
                #expect(try store.offset(topic: "t", atOrAfter: Int64(offset)) == offset)
            }
        }
        do {
            let store = try openStore(directory)
            _ = try store.append(topic: "t", events: Array(events[0..<1_500]))
            _ = try store.append(topic: "t", events: Array(events[1_500...]))
            #expect(store.storedBytes == 3_000 * recordSize(key: "k", bodyCount: 58))
            try check(store)
            store.close()
        }
        let store = try openStore(directory)
        defer { store.close() }
        #expect(store.recovery.problems.isEmpty)
        try check(store)
    }

    @Test("a record larger than the read chunk (256 KiB) reads back whole, before and after reopen")
    func hugeRecord() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let huge = (0..<700_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let events = [
            item(0), NewEvent(key: "big", timestampMicros: 5, body: huge), item(2),
            NewEvent(key: "big", timestampMicros: 6, body: huge + [1]), item(4),
        ]
        do {
            let store = try openStore(directory)
            _ = try store.append(topic: "t", events: events)
            Self.expectEqual(try store.read(topic: "t", from: 0, limit: 10), events, from: 0)
            Self.expectEqual(try store.read(topic: "t", from: 3, limit: 10), Array(events[3...]), from: 3)
            store.close()
        }
        let store = try openStore(directory)
        defer { store.close() }
        #expect(store.recovery.records == 5 && store.recovery.problems.isEmpty)
        Self.expectEqual(try store.read(topic: "t", from: 0, limit: 10), events, from: 0)
        #expect(try store.history(key: "big", limit: 10).map(\.event.body.count) == [700_000, 700_001])
    }
}
