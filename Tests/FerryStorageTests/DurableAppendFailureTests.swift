import FerryTestSupport
import Foundation
import Testing

@testable import FerryStorage

/// An append that fails part-way (a full disk) must leave nothing behind that a later recovery
/// could take for records: its publish was refused.
@Suite("DurableEventLog: failed appends")
struct DurableAppendFailureTests {
    /// What comes after the failed append whose cut failed too.
    enum Next: String, CaseIterable, Sendable {
        /// Another append to the same segment.
        case append
        /// An append that rolls the segment (it is old enough).
        case roll
        /// The store closes.
        case close
    }

    @Test(
        "a failed append's leftovers are cut off, even when the first cut fails, before the segment takes more, rolls or closes",
        arguments: [FsyncPolicy.never, .batch], Next.allCases)
    func leftoversAreCut(policy: FsyncPolicy, next: Next) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        do {
            let store = try openStore(directory) { $0.defaults.fsync = policy }
            defer { store.close() }
            _ = try store.append(topic: "t", events: (0..<3).map { item($0) })
            let segment = try #require(store.segments(topic: "t").last)
            let end = segment.size
            segment.file.injectFaults(partialWrites: 1, truncates: 1)
            let big = (10..<15).map { NewEvent(key: "k", timestampMicros: 1_000, body: [UInt8](repeating: UInt8($0), count: 300), id: "") }
            #expect(throws: StorageError.self) { _ = try store.append(topic: "t", events: big) }
            #expect(segment.size == end)
            #expect(try segment.file.read(count: 16, at: end).contains { $0 != 0 }, "the half-written events are still in the file")
            #expect(store.unsyncedBytesWaiting == (policy == .never ? 0 : end), "the failed append keeps nothing waiting for a sync")

            switch next {
            case .append, .roll:
                if next == .roll { segment.createdAt = Date(timeIntervalSinceNow: -7200) }
                #expect(try store.append(topic: "t", events: [item(3)]) == [3])
                #expect(store.segments(topic: "t").count == (next == .roll ? 2 : 1))
            case .close:
                break
            }
        }
        let store = try openStore(directory) { $0.defaults.fsync = policy }
        defer { store.close() }
        let count: UInt64 = next == .close ? 3 : 4
        #expect(store.recovery.problems.isEmpty, "\(store.recovery.problems)")
        #expect(store.bounds(topic: "t") == 0..<count)
        #expect(try store.read(topic: "t", from: 0, limit: 10).map(\.body) == (0..<count).map { body($0) })
    }

    @Test("appends past the store's budget of bytes waiting for a sync are refused with nothing written, and accepted once synced")
    func budgetRefusesAppends() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) {
            $0.defaults.fsync = .batch
            $0.maxUnsyncedBytes = 600
        }
        defer { store.close() }
        var appended: UInt64 = 0
        var refusal: StorageError?
        while refusal == nil && appended < 100 {
            do {
                _ = try store.append(topic: "t", events: [item(appended)])
                appended += 1
            } catch {
                refusal = error
            }
        }
        let error = try #require(refusal)
        #expect(error.code == .full && error.message.contains("wait for an fdatasync"))
        #expect(appended > 1 && store.bounds(topic: "t") == 0..<appended)
        let segment = try #require(store.segments(topic: "t").last)
        #expect(try segment.file.read(count: 16, at: segment.size).allSatisfy { $0 == 0 }, "nothing of the refused append was written")
        #expect(store.unsyncedBytesWaiting == segment.size && segment.size <= 600)

        store.flush()
        #expect(waitUntilDurable(store, topic: "t", end: appended))
        #expect(store.unsyncedBytesWaiting == 0)
        #expect(try store.append(topic: "t", events: [item(appended)]) == [appended])
    }
}
