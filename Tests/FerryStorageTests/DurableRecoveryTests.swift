import FerryStorage
import Foundation
import Testing

@Suite("DurableEventLog: recovery from torn writes, corruption and garbage")
struct DurableRecoveryTests {
    static let padding = 100
    static let size = recordSize(key: "k", bodyCount: 8 + padding)

    /// Event `n`: its body starts with `n` (8 bytes), then padding; timestamp n * 100.
    static func event(_ n: UInt64) -> NewEvent {
        NewEvent(key: "k", timestampMicros: Int64(n) * 100, body: body(n) + [UInt8](repeating: 0x5A, count: padding))
    }

    static func numbers(_ events: [StoredEvent]) -> [UInt64?] { events.map { value(Array($0.body.prefix(8))) } }

    /// Writes `count` events to topic "t" (one append each) and closes the store.
    static func write(_ directory: URL, count: Int, segmentBytes: Int = 64 << 20) throws {
        let store = try openStore(directory) { $0.defaults.segmentBytes = segmentBytes }
        try appendEach(store, topic: "t", (0..<UInt64(count)).map(event))
        store.close()
    }

    @Test("a torn last record is truncated at reopen; the rest is intact and appends continue at N-1", arguments: [3, size - 5])
    func tornWrite(bytesShort: Int) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let count = 70
        try Self.write(directory, count: count, segmentBytes: 4096)
        let files = segmentFiles(directory, topic: "t")
        #expect(files.count >= 3)
        let last = try #require(files.last)
        let handle = try FileHandle(forWritingTo: last)
        try handle.truncate(atOffset: UInt64(fileSize(last) - bytesShort))
        try handle.close()

        do {
            let store = try openStore(directory) { $0.defaults.segmentBytes = 4096 }
            defer { store.close() }
            #expect(store.recovery.truncatedBytes == Self.size - bytesShort)
            #expect(store.recovery.corruptRecords == 0)
            #expect(!store.recovery.problems.isEmpty)
            #expect(store.recovery.records == count - 1)
            #expect(store.bounds(topic: "t") == 0..<UInt64(count - 1))
            #expect(Self.numbers(try store.read(topic: "t", from: 0, limit: 1_000)) == Array(0..<UInt64(count - 1)))
            #expect(try store.append(topic: "t", events: [Self.event(1_000)]) == [UInt64(count - 1)])
            #expect(Self.numbers(try store.read(topic: "t", from: UInt64(count - 2), limit: 10)) == [UInt64(count - 2), 1_000])
        }
        let store = try openStore(directory) { $0.defaults.segmentBytes = 4096 }
        defer { store.close() }
        #expect(store.recovery.truncatedBytes == 0 && store.recovery.problems.isEmpty, "the repair was written to disk")
        #expect(store.bounds(topic: "t") == 0..<UInt64(count))
        #expect(Self.numbers(try store.read(topic: "t", from: UInt64(count - 1), limit: 10)) == [1_000])
    }

    /// How a middle record is damaged.
    enum Damage: String, CaseIterable, Sendable {
        /// One body byte flipped: the CRC no longer matches.
        case body
        /// The length field made implausible.
        case implausibleLength
        /// The length field grown past the end of the file (a single bit flip in its third byte).
        case lengthPastEnd
    }

    @Test(
        "a corrupt record in the middle is skipped and reported; every other event reads back; appends continue", arguments: Damage.allCases
    )
    func corruptMiddle(damage: Damage) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let count = 20
        let bad = 10
        try Self.write(directory, count: count)
        let file = try #require(segmentFiles(directory, topic: "t").first)
        #expect(fileSize(file) == count * Self.size)
        let start = bad * Self.size
        let bytes = try readBytes(file)
        switch damage {
        case .body:
            let position = bodyPosition(recordAt: start, key: "k") + 20
            try overwrite(file, at: position, with: [bytes[position] ^ 0xFF])
        case .implausibleLength:
            try overwrite(file, at: start, with: [0xFF, 0xFF, 0xFF, 0xFF])
        case .lengthPastEnd:
            try overwrite(file, at: start + 2, with: [bytes[start + 2] ^ 0x01])
        }

        let expected = (0..<UInt64(count)).filter { $0 != UInt64(bad) }
        do {
            let store = try openStore(directory)
            defer { store.close() }
            #expect(store.recovery.corruptRecords == 1)
            #expect(!store.recovery.problems.isEmpty)
            #expect(store.recovery.truncatedBytes == 0, "valid records after the damage must not be truncated")
            #expect(store.recovery.records == count - 1)
            #expect(store.bounds(topic: "t") == 0..<UInt64(count))
            let all = try store.read(topic: "t", from: 0, limit: 1_000)
            #expect(all.map(\.offset) == expected)
            #expect(Self.numbers(all) == expected.map { Optional($0) })
            #expect(all.allSatisfy { $0.body.count == 8 + Self.padding && $0.key == "k" && $0.timestampMicros == Int64($0.offset) * 100 })
            #expect(try store.read(topic: "t", from: UInt64(bad), limit: 1).map(\.offset) == [UInt64(bad + 1)])
            #expect(try store.read(topic: "t", from: UInt64(bad - 1), limit: 2).map(\.offset) == [UInt64(bad - 1), UInt64(bad + 1)])
            #expect(try store.history(key: "k", limit: 1_000).map(\.event.offset) == expected)
            #expect(try store.append(topic: "t", events: [Self.event(1_000)]) == [UInt64(count)])
            #expect(Self.numbers(try store.read(topic: "t", from: UInt64(count - 1), limit: 10)) == [UInt64(count - 1), 1_000])
        }
        let store = try openStore(directory)
        defer { store.close() }
        #expect(store.recovery.corruptRecords == 1, "the damage is still there and still skipped")
        #expect(try store.read(topic: "t", from: 0, limit: 1_000).map(\.offset) == expected + [UInt64(count)])
    }

    @Test("damage across two records counts both lost events, the skipped bytes and the region, per topic")
    func damageAcrossRecords() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        try Self.write(directory, count: 20)
        let file = try #require(segmentFiles(directory, topic: "t").first)
        // 100 bytes over the end of record 9 and the start of record 10.
        try overwrite(file, at: 10 * Self.size - 50, with: [UInt8](repeating: 0xAB, count: 100))

        let store = try openStore(directory)
        defer { store.close() }
        let damage = store.damage(topic: "t")
        #expect(damage.corruptRegions == 1)
        #expect(damage.lostEvents == 2)
        #expect(damage.skippedBytes == 2 * Self.size)
        #expect(damage.truncatedBytes == 0)
        #expect(store.recovery.lostEvents == 2)
        #expect(store.damage(topic: "other").isEmpty)
        #expect(store.recovery.problems.contains { $0.contains("topic t") && $0.contains("offsets 9..<11") })
        #expect(try store.read(topic: "t", from: 0, limit: 100).map(\.offset) == (0..<20).filter { $0 != 9 && $0 != 10 })
    }

    /// What follows the valid records.
    enum Garbage: String, CaseIterable, Sendable {
        case random, zeros, ones, shortPrefix
        var bytes: [UInt8] {
            switch self {
            case .random:
                var generator = SystemRandomNumberGenerator()
                return (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case .zeros: return [UInt8](repeating: 0, count: 4096)
            case .ones: return [UInt8](repeating: 0xFF, count: 100)
            case .shortPrefix: return [40, 0, 0]
            }
        }
    }

    @Test("garbage after the valid records is truncated at reopen (zeros silently: an unused runway)", arguments: Garbage.allCases)
    func garbageTail(garbage: Garbage) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let count = 10
        try Self.write(directory, count: count)
        let file = try #require(segmentFiles(directory, topic: "t").first)
        let tail = garbage.bytes
        try overwrite(file, at: count * Self.size, with: tail)
        #expect(fileSize(file) == count * Self.size + tail.count)

        let store = try openStore(directory)
        defer { store.close() }
        if garbage == .zeros {
            #expect(store.recovery.truncatedBytes == 0 && store.recovery.problems.isEmpty, "zeros at a record boundary are a clean end")
        } else {
            #expect(store.recovery.truncatedBytes == tail.count)
            #expect(!store.recovery.problems.isEmpty)
        }
        #expect(store.recovery.corruptRecords == 0)
        #expect(fileSize(file) == count * Self.size)
        #expect(store.bounds(topic: "t") == 0..<UInt64(count))
        #expect(Self.numbers(try store.read(topic: "t", from: 0, limit: 100)) == Array(0..<UInt64(count)))
        #expect(try store.append(topic: "t", events: [Self.event(77)]) == [UInt64(count)])
        #expect(Self.numbers(try store.read(topic: "t", from: UInt64(count), limit: 10)) == [77])
    }
}
