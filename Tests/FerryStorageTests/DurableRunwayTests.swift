import FerryTestSupport
import Foundation
import Testing

@testable import FerryStorage

@Suite("DurableEventLog: the zero runway ahead of active segments")
struct DurableRunwayTests {
    /// Events `n` of a known size, written and read as in the recovery tests.
    typealias Recovery = DurableRecoveryTests
    let size = Recovery.size

    static func appendZeros(_ file: URL, count: Int) throws {
        try overwrite(file, at: fileSize(file), with: [UInt8](repeating: 0, count: count))
    }

    /// Copies the data directory of an open store, as a crash would leave it (the files are
    /// copied as they are in the page cache).
    static func snapshot(_ directory: URL) throws -> URL {
        let copy = makeTemporaryDirectory()
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: directory.appendingPathComponent("topics"), to: copy.appendingPathComponent("topics"))
        return copy
    }

    @Test("an active segment that fsyncs gets a zero runway past its data end; close truncates it")
    func runwayIsKept() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let configure: (inout DurableStoreConfiguration) -> Void = {
            $0.defaults.fsync = .always
            $0.runway = Preallocator.Configuration(chunkBytes: 64 << 10, pieceBytes: 16 << 10)
        }
        let count = 50
        do {
            let store = try openStore(directory, configure)
            try appendEach(store, topic: "t", (0..<UInt64(count)).map(Recovery.event))
            store.flush()
            #expect(waitUntilDurable(store, topic: "t", end: UInt64(count)))
            let file = try #require(segmentFiles(directory, topic: "t").first)
            #expect(Wait.untilSync(timeout: .seconds(10)) { fileSize(file) > count * size }, "zeros were written past the data end")
            #expect(Wait.untilSync(timeout: .seconds(10)) { store.runwayStatistics.extensions > 0 })
            #expect(store.storedBytes == count * size, "the runway is not counted")

            // A crash now leaves the runway: reopening finds a clean end.
            let copy = try Self.snapshot(directory)
            defer { removeTemporaryDirectory(copy) }
            let copied = try #require(segmentFiles(copy, topic: "t").first)
            let bytes = try readBytes(copied)
            #expect(bytes.count > count * size)
            #expect(bytes[(count * size)...].allSatisfy { $0 == 0 })
            let reopened = try openStore(copy, configure)
            defer { reopened.close() }
            #expect(reopened.recovery.problems.isEmpty)
            #expect(reopened.recovery.truncatedBytes == 0 && reopened.recovery.corruptRecords == 0)
            #expect(reopened.recovery.records == count)
            #expect(Recovery.numbers(try reopened.read(topic: "t", from: 0, limit: 1_000)) == Array(0..<UInt64(count)))
            #expect(try reopened.append(topic: "t", events: [Recovery.event(1_000)]) == [UInt64(count)])
            #expect(Recovery.numbers(try reopened.read(topic: "t", from: UInt64(count - 1), limit: 10)) == [UInt64(count - 1), 1_000])
            store.close()
            #expect(fileSize(file) == count * size, "close truncates the runway")
        }
        let store = try openStore(directory, configure)
        defer { store.close() }
        #expect(store.recovery.problems.isEmpty && store.recovery.records == count)
    }

    @Test("a topic that never fsyncs gets no runway")
    func noRunwayForNever() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) { $0.runway = Preallocator.Configuration(chunkBytes: 16 << 10, pieceBytes: 4 << 10) }
        defer { store.close() }
        try appendEach(store, topic: "t", (0..<200).map(Recovery.event))
        let file = try #require(segmentFiles(directory, topic: "t").first)
        #expect(fileSize(file) == 200 * size)
        #expect(store.runwayStatistics.extensions == 0)
    }

    @Test("zeros after the last record are a clean end: truncated silently, every record reads, appends continue")
    func reopenWithRunway() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let count = 30
        try Recovery.write(directory, count: count)
        let file = try #require(segmentFiles(directory, topic: "t").first)
        try Self.appendZeros(file, count: 4 << 20)

        do {
            let store = try openStore(directory) { $0.defaults.fsync = .always }
            defer { store.close() }
            #expect(store.recovery.problems.isEmpty)
            #expect(store.recovery.truncatedBytes == 0 && store.recovery.corruptRecords == 0)
            #expect(store.recovery.records == count)
            #expect(store.bounds(topic: "t") == 0..<UInt64(count))
            #expect(store.storedBytes == count * size)
            #expect(Recovery.numbers(try store.read(topic: "t", from: 0, limit: 1_000)) == Array(0..<UInt64(count)))
            #expect(try store.append(topic: "t", events: [Recovery.event(1_000)]) == [UInt64(count)])
            store.flush()
            #expect(waitUntilDurable(store, topic: "t", end: UInt64(count + 1)))
            #expect(Recovery.numbers(try store.read(topic: "t", from: UInt64(count - 1), limit: 10)) == [UInt64(count - 1), 1_000])
        }
        let store = try openStore(directory)
        defer { store.close() }
        #expect(store.recovery.problems.isEmpty)
        #expect(fileSize(file) == (count + 1) * size)
        #expect(Recovery.numbers(try store.read(topic: "t", from: 0, limit: 1_000)) == Array(0..<UInt64(count)) + [1_000])
    }

    @Test("a torn record followed by zeros is a torn tail: truncated and reported (the zeros are not counted)")
    func tornThenZeros() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let count = 10
        try Recovery.write(directory, count: count)
        let file = try #require(segmentFiles(directory, topic: "t").first)
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: UInt64(count * size - 5))
        try handle.close()
        try Self.appendZeros(file, count: 4 << 20)

        let store = try openStore(directory)
        defer { store.close() }
        #expect(store.recovery.truncatedBytes == size - 5)
        #expect(store.recovery.corruptRecords == 0)
        #expect(store.recovery.problems.count == 1)
        #expect(store.recovery.problems.first?.contains("torn tail") == true)
        #expect(store.recovery.records == count - 1)
        #expect(fileSize(file) == (count - 1) * size)
        #expect(Recovery.numbers(try store.read(topic: "t", from: 0, limit: 100)) == Array(0..<UInt64(count - 1)))
        #expect(try store.append(topic: "t", events: [Recovery.event(77)]) == [UInt64(count - 1)])
    }

    /// How records in the middle of a segment are damaged.
    enum MiddleDamage: String, CaseIterable, Sendable {
        /// One body byte of record 10 flipped: its CRC no longer matches.
        case flippedByte
        /// Records 10 and 11 read as zeros (pages that were never written back): a zero run to skip.
        case zeroedRecords

        var lost: [UInt64] { self == .flippedByte ? [10] : [10, 11] }
    }

    @Test(
        "damage in the middle, valid records, then zeros: skipped and reported once, the rest reads, the zeros go silently",
        arguments: MiddleDamage.allCases)
    func damageInTheMiddleThenZeros(damage: MiddleDamage) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let count = 20
        try Recovery.write(directory, count: count)
        let file = try #require(segmentFiles(directory, topic: "t").first)
        var bytes = try readBytes(file)
        switch damage {
        case .flippedByte: bytes[bodyPosition(recordAt: 10 * size, key: "k") + 20] ^= 0xFF
        case .zeroedRecords: for index in (10 * size)..<(12 * size) { bytes[index] = 0 }
        }
        bytes += [UInt8](repeating: 0, count: 2 << 20)
        try Data(bytes).write(to: file)

        let store = try openStore(directory)
        defer { store.close() }
        #expect(store.recovery.corruptRecords == 1)
        #expect(store.recovery.truncatedBytes == 0)
        #expect(store.recovery.problems.count == 1)
        #expect(store.recovery.records == count - damage.lost.count)
        #expect(fileSize(file) == count * size)
        #expect(store.bounds(topic: "t") == 0..<UInt64(count))
        #expect(try store.read(topic: "t", from: 0, limit: 1_000).map(\.offset) == (0..<UInt64(count)).filter { !damage.lost.contains($0) })
        #expect(try store.append(topic: "t", events: [Recovery.event(1_000)]) == [UInt64(count)])
    }

    /// A deterministic pseudo-random generator (SplitMix64), so a failure can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("stress: appends race a small runway extending concurrently (and segments rolling); every record reads back byte for byte")
    func stress() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let configure: (inout DurableStoreConfiguration) -> Void = {
            $0.defaults.fsync = .always
            $0.defaults.segmentBytes = 1 << 20
            $0.runway = Preallocator.Configuration(chunkBytes: 16 << 10, pieceBytes: 4 << 10)
        }
        var generator = SplitMix(state: 42)
        var expected: [NewEvent] = []
        var snapshotCount = 0
        let snapshot: URL
        do {
            let store = try openStore(directory, configure)
            defer { store.close() }
            var taken: URL?
            for batch in 0..<2_000 {
                let events = (0..<Int.random(in: 1...40, using: &generator)).map { _ in
                    let n = UInt64(expected.count)
                    let length = Int.random(in: 0...300, using: &generator)
                    let filler = (0..<length).map { _ in UInt8.random(in: 1...255, using: &generator) }
                    return NewEvent(key: "k\(n % 7)", timestampMicros: Int64(n), body: body(n) + filler, id: "id-\(n)")
                }
                let offsets = try store.append(topic: "t", events: events)
                #expect(offsets.first == UInt64(expected.count))
                expected += events
                store.flush()
                store.collectSyncs()
                if batch == 1_000 {
                    #expect(waitUntilDurable(store, topic: "t", end: UInt64(expected.count)))
                    taken = try Self.snapshot(directory)
                    snapshotCount = expected.count
                }
            }
            snapshot = try #require(taken)
            store.flush()
            #expect(waitUntilDurable(store, topic: "t", end: UInt64(expected.count)))
            let statistics = store.runwayStatistics
            #expect(statistics.extensions > 10, "the runway was extended while appends went on")
            #expect(statistics.failures == 0)
            #expect(segmentFiles(directory, topic: "t").count > 3, "segments rolled")
        }
        defer { removeTemporaryDirectory(snapshot) }

        // Rolled segments were truncated to their logical size; the active one at close.
        let onDisk = segmentFiles(directory, topic: "t").map(fileSize).reduce(0, +)
        let store = try openStore(directory, configure)
        defer { store.close() }
        try Self.verify(store, count: expected.count, expected: expected)
        #expect(onDisk == store.storedBytes, "no runway is left after a clean close")

        // The snapshot taken mid-run (runway and all) recovers cleanly too.
        let crashed = try openStore(snapshot, configure)
        defer { crashed.close() }
        try Self.verify(crashed, count: snapshotCount, expected: expected)
    }

    /// The log recovered `count` records cleanly, each the same as the event appended.
    static func verify(_ store: DurableEventLog, count: Int, expected: [NewEvent]) throws {
        #expect(store.recovery.problems.isEmpty)
        #expect(store.recovery.records == count)
        #expect(store.bounds(topic: "t") == 0..<UInt64(count))
        var offset: UInt64 = 0
        while offset < UInt64(count) {
            let events = try store.read(topic: "t", from: offset, limit: 500)
            guard !events.isEmpty else { break }
            for stored in events {
                let original = expected[Int(stored.offset)]
                #expect(stored.offset == offset)
                #expect(stored.body == original.body && stored.key == original.key && stored.timestampMicros == original.timestampMicros)
                offset += 1
            }
        }
        #expect(offset == UInt64(count))
    }
}
