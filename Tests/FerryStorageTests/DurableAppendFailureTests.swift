import FerryTestSupport
import Foundation
import Testing

@testable import FerryStorage

/// An append that fails part-way (a full disk) must leave nothing behind that a later recovery
/// could take for records: its publish was refused.
@Suite("DurableEventStore: failed appends")
struct DurableAppendFailureTests {
    @Test(
        "a failed append's leftovers are cut off, even when the first cut fails, before the next append",
        arguments: [FsyncPolicy.never, .batch])
    func leftoversAreCut(policy: FsyncPolicy) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let store = try openStore(directory) { $0.defaults.fsync = policy }
            defer { store.close() }
            _ = try store.append(topic: "t", events: (0..<3).map { item($0) })
            try Self.failAppendLeavingLeftovers(store)
            #expect(try store.append(topic: "t", events: [item(3)]) == [3])
            #expect(store.bounds(topic: "t") == 0..<4)
        }
        try Self.expectFourEvents(directory, policy: policy)
    }

    @Test("a failed append's leftovers are cut off before the segment rolls")
    func leftoversAreCutBeforeARoll() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let store = try openStore(directory) { $0.defaults.segmentAgeSeconds = 1 }
            defer { store.close() }
            _ = try store.append(topic: "t", events: (0..<3).map { item($0) })
            try Self.failAppendLeavingLeftovers(store)
            // The next append rolls by age: a new segment takes it.
            let active = try #require(store.segments(topic: "t").last)
            #expect(Wait.untilSync(timeout: .seconds(5)) { Date().timeIntervalSince(active.createdAt) >= 1 })
            #expect(try store.append(topic: "t", events: [item(3)]) == [3])
            #expect(store.segments(topic: "t").count == 2)
        }
        try Self.expectFourEvents(directory, policy: .never)
    }

    /// Appends five events whose write fails half-way, and whose cut fails too: their first
    /// records stay in the file past the last good one.
    private static func failAppendLeavingLeftovers(_ store: DurableEventStore) throws {
        let segment = try #require(store.segments(topic: "t").last)
        let end = segment.size
        segment.file.injectFaults(partialWrites: 1, truncates: 1)
        let big = (10..<15).map { NewEvent(key: "k", timestampMicros: 1_000, body: [UInt8](repeating: UInt8($0), count: 300), id: "") }
        #expect(throws: StorageError.self) { _ = try store.append(topic: "t", events: big) }
        #expect(segment.size == end)
        #expect(try segment.file.read(count: 16, at: end).contains { $0 != 0 }, "the half-written events are still in the file")
    }

    /// After a reopen the log holds events 0 to 3 and nothing else, with nothing to repair.
    private static func expectFourEvents(_ directory: URL, policy: FsyncPolicy) throws {
        let store = try openStore(directory) { $0.defaults.fsync = policy }
        defer { store.close() }
        #expect(store.recovery.problems.isEmpty, "\(store.recovery.problems)")
        #expect(store.bounds(topic: "t") == 0..<4)
        #expect(try store.read(topic: "t", from: 0, limit: 10).map(\.body) == (0..<4).map { body($0) })
    }
}
