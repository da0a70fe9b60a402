import FerryTestSupport
import Foundation
import Testing

@testable import FerryStorage

/// Segment files keep descriptors within a budget: idle ones (rolled segments) are closed and
/// opened again when read, a store with more segments than the budget opens and reads them all,
/// and topics past what the budget leaves room for are refused with a clear error.
@Suite("DurableEventLog: file descriptors stay within a budget")
struct DescriptorBudgetTests {
    static func event(_ n: Int) -> NewEvent {
        NewEvent(key: "k\(n % 3)", timestampMicros: Int64(n), body: [UInt8](repeating: UInt8(n % 251), count: 200))
    }

    @Test("a topic with many rolled segments keeps at most the budget open, and reads every event back", arguments: [FsyncPolicy.never, .batch])
    func manySegments(policy: FsyncPolicy) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let budget = 8
        func configure(_ configuration: inout DurableStoreConfiguration) {
            configuration.defaults.fsync = policy
            configuration.defaults.segmentBytes = 1024
            configuration.maxOpenSegmentFiles = budget
        }
        let count = 200
        do {
            let store = try openStore(directory, configure)
            defer { store.close() }
            for n in 0..<count {
                _ = try store.append(topic: "t", events: [Self.event(n)])
                if policy != .never {
                    // As the broker loop does: sync, then take the completions.
                    store.flush()
                    #expect(Wait.untilSync(timeout: .seconds(10)) {
                        store.collectSyncs()
                        return store.durableEnd(topic: "t") == UInt64(n + 1)
                    })
                }
            }
            #expect(segmentFiles(directory, topic: "t").count >= 4 * budget)
            // The active segment (and its runway) may be open besides the budget's idle files.
            #expect(store.openSegmentDescriptors <= budget + 1)
            let events = try store.read(topic: "t", from: 0, limit: 1000)
            #expect(events.map(\.offset) == (0..<UInt64(count)).map { $0 })
            #expect(try store.history(key: "k1", limit: 1000).count == (0..<count).filter { $0 % 3 == 1 }.count)
            #expect(store.openSegmentDescriptors <= budget + 1)
        }
        // Recovery opens every segment, within the same budget.
        let store = try openStore(directory, configure)
        defer { store.close() }
        #expect(store.recovery.records == count)
        #expect(store.openSegmentDescriptors <= budget + 1)
        #expect(try store.read(topic: "t", from: 0, limit: 1000).count == count)
        #expect(try store.append(topic: "t", events: [Self.event(count)]) == [UInt64(count)])
    }

    @Test("a new topic finds room by parking an idle topic; while every topic waits for a sync it is refused; a parked topic takes appends")
    func topicsWithinTheBudget() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) {
            $0.defaults.fsync = .batch
            $0.maxOpenSegmentFiles = 8
            $0.idleTopicMilliseconds = 0
        }
        defer { store.close() }
        func synced(_ topic: String) -> Bool {
            store.flush()
            return Wait.untilSync(timeout: .seconds(10)) {
                store.collectSyncs()
                return store.durableEnd(topic: topic) == store.bounds(topic: topic).upperBound
            }
        }
        for topic in 0..<4 {
            _ = try store.append(topic: "t\(topic)", events: [Self.event(topic)])
            #expect(synced("t\(topic)"))
        }
        // Four active segments, each with its runway: the budget is spent.
        #expect(Wait.untilSync(timeout: .seconds(10)) { store.openSegmentDescriptors == 8 })
        // Appended and not yet synced: no topic can give anything up.
        for topic in 0..<4 { _ = try store.append(topic: "t\(topic)", events: [Self.event(10 + topic)]) }
        let error = #expect(throws: StorageError.self) { try store.append(topic: "t4", events: [Self.event(4)]) }
        #expect(error?.code == .descriptors)
        #expect(error?.message.contains("ulimit") == true)
        #expect(!store.topics.contains("t4"))
        for topic in 0..<4 { #expect(synced("t\(topic)")) }
        // Now idle and synced: the oldest is parked to make room.
        #expect(try store.append(topic: "t4", events: [Self.event(4)]) == [0])
        #expect(synced("t4"))
        #expect(Wait.untilSync(timeout: .seconds(10)) { store.openSegmentDescriptors <= 8 }, "open: \(store.openSegmentDescriptors)")
        // A parked topic takes appends again, and every event reads back.
        #expect(try store.append(topic: "t0", events: [Self.event(20)]) == [2])
        #expect(synced("t0"))
        #expect(try store.read(topic: "t0", from: 0, limit: 10).map(\.offset) == [0, 1, 2])
    }
}
