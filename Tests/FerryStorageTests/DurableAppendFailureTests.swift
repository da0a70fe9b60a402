import Foundation
import Testing

@testable import FerryStorage

/// An append that fails part-way (a full disk) must leave nothing behind that a later recovery
/// could take for records: its publish was refused.
@Suite("DurableEventStore: failed appends")
struct DurableAppendFailureTests {
    @Test("a failed append's leftovers are cut off, even when the first cut fails, before the next append")
    func leftoversAreCut() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let store = try openStore(directory)
            defer { store.close() }
            _ = try store.append(topic: "t", events: (0..<3).map { item($0) })
            let file = try #require(store.segmentFiles(topic: "t").last)
            let size = file.size
            file.injectFaults(partialWrites: 1, truncates: 1)
            let big = (10..<15).map { NewEvent(key: "k", timestampMicros: 1_000, body: [UInt8](repeating: UInt8($0), count: 300), id: "") }
            #expect(throws: StorageError.self) { _ = try store.append(topic: "t", events: big) }
            #expect(file.size > size, "the cut after the failure failed too: the half-written events are still there")

            #expect(try store.append(topic: "t", events: [item(3)]) == [3])
            #expect(store.bounds(topic: "t") == 0..<4)
        }
        let store = try openStore(directory)
        defer { store.close() }
        #expect(store.recovery.problems.isEmpty, "\(store.recovery.problems)")
        #expect(store.bounds(topic: "t") == 0..<4)
        #expect(try store.read(topic: "t", from: 0, limit: 10).map(\.body) == (0..<4).map { body($0) })
    }
}
