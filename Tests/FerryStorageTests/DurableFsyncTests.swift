import Dispatch
import Foundation
import Testing

@testable import FerryStorage

@Suite("DurableEventLog: fsync policies and durableEnd")
struct DurableFsyncTests {
    @Test("with .never, durableEnd is the next offset right after every append")
    func never() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) { $0.defaults.fsync = .never }
        defer { store.close() }
        #expect(store.durableEnd(topic: "t") == 0)
        _ = try store.append(topic: "t", events: (0..<5).map { item($0) })
        #expect(store.durableEnd(topic: "t") == 5)
        _ = try store.append(topic: "t", events: [item(5)])
        #expect(store.durableEnd(topic: "t") == 6)
        #expect(store.durableEnd(topic: "t") == store.bounds(topic: "t").upperBound)
        #expect(store.durableEnd(topic: "unknown") == 0)
        #expect(store.segmentFiles(topic: "t").allSatisfy { $0.syncSnapshot.unsynced.isEmpty }, "a log that never syncs keeps no copies")
    }

    @Test("with .always or .batch, durableEnd advances only after flush() and collectSyncs()", arguments: [FsyncPolicy.always, .batch])
    func synced(policy: FsyncPolicy) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) {
            $0.defaults.fsync = policy
            $0.defaults.batchWindowMicros = 2_000
        }
        defer { store.close() }
        #expect(store.syncNotificationDescriptor != nil)
        _ = try store.append(topic: "t", events: (0..<5).map { item($0) })
        #expect(store.bounds(topic: "t") == 0..<5)
        #expect(store.durableEnd(topic: "t") == 0)
        store.collectSyncs()
        #expect(store.durableEnd(topic: "t") == 0, "nothing was flushed")
        #expect(try store.read(topic: "t", from: 0, limit: 10).count == 5, "reads do not wait for durability")
        let file = try #require(store.segmentFiles(topic: "t").last)
        #expect(file.syncSnapshot.unsyncedBytes > 0, "appends are kept until a sync covers them")

        store.flush()
        #expect(waitUntilDurable(store, topic: "t", end: 5))
        #expect(store.durableEnd(topic: "t") == 5)

        _ = try store.append(topic: "t", events: [item(5), item(6)])
        _ = try store.append(topic: "t", events: [item(7)])
        store.collectSyncs()
        #expect(store.durableEnd(topic: "t") == 5)
        store.flush()
        #expect(waitUntilDurable(store, topic: "t", end: 8))
        #expect(store.durableEnd(topic: "t") == 8, "durableEnd never passes the appended end")
        #expect(file.syncSnapshot.unsyncedBytes == 0, "a good sync lets go of the copies it covered")
        let durations = store.takeSyncDurations()
        #expect(durations.count >= 2, "each fdatasync is timed")
        #expect(durations.allSatisfy { $0 >= .zero })
        #expect(store.takeSyncDurations().isEmpty, "taken once")

        store.flush()
        store.collectSyncs()
        #expect(store.durableEnd(topic: "t") == 8, "a flush with nothing appended changes nothing")
    }

    @Test("several topics and rolled segments are all synced by one flush", arguments: [FsyncPolicy.always, .batch])
    func severalTopics(policy: FsyncPolicy) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) {
            $0.defaults.fsync = policy
            $0.defaults.segmentBytes = 4096
        }
        defer { store.close() }
        try appendEach(store, topic: "a", (0..<300).map { item($0) })
        _ = try store.append(topic: "b", events: [item(0)])
        #expect(segmentFiles(directory, topic: "a").count > 1)
        #expect(store.durableEnd(topic: "a") == 0 && store.durableEnd(topic: "b") == 0)
        store.flush()
        #expect(waitUntilDurable(store, topic: "a", end: 300))
        #expect(waitUntilDurable(store, topic: "b", end: 1))
        #expect(store.durableEnd(topic: "a") == 300)
        #expect(store.durableEnd(topic: "b") == 1)
        // A new segment's directory entries are synced with it (see DurableDirectorySyncTests).
        for file in store.segmentFiles(topic: "a") + store.segmentFiles(topic: "b") {
            #expect(file.directoriesToSync.isEmpty, "\(file.path) counts as durable with its directory entry unsynced")
        }
    }

    @Test(
        "group commit: appends made while an fsync runs are not covered by it and share the next, which starts when it ends",
        arguments: [FsyncPolicy.always, .batch])
    func leaderFollower(policy: FsyncPolicy) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) { $0.defaults.fsync = policy }
        defer { store.close() }
        _ = try store.append(topic: "t", events: [item(0)])
        let file = try #require(store.segmentFiles(topic: "t").last)
        let entered = DispatchSemaphore(value: 0)
        let releaseFirst = DispatchSemaphore(value: 0)
        let releaseSecond = DispatchSemaphore(value: 0)
        defer {
            releaseFirst.signal()
            releaseSecond.signal()
        }
        file.holdNextSync(entered: entered, release: releaseFirst)
        store.flush()
        #expect(entered.wait(timeout: .now() + 10) == .success, "an idle log starts its fsync at once")
        // The first fsync is running: what is appended now must wait for the next one.
        file.holdNextSync(entered: entered, release: releaseSecond)
        _ = try store.append(topic: "t", events: [item(1)])
        store.flush()
        _ = try store.append(topic: "t", events: [item(2), item(3)])
        store.flush()
        releaseFirst.signal()
        #expect(waitUntilDurable(store, topic: "t", end: 1))
        #expect(entered.wait(timeout: .now() + 10) == .success, "the next fsync starts as soon as the first ends")
        store.collectSyncs()
        #expect(store.durableEnd(topic: "t") == 1, "an fsync that began before an append does not cover it")
        releaseSecond.signal()
        #expect(waitUntilDurable(store, topic: "t", end: 4))
        #expect(file.syncCount == 2, "the appends made during the first fsync shared one")
    }

    @Test("batch has no spacing by default, and a spaced batch topic never delays an always topic's fsync")
    func spacingNeverDelaysAlways() throws {
        #expect(TopicLogConfiguration().batchWindowMicros == 0, "batch starts an fsync as soon as there is something to sync")
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) {
            $0.defaults.fsync = .batch
            $0.defaults.batchWindowMicros = 3_600_000_000  // an hour between fsyncs
            var urgent = TopicLogConfiguration()
            urgent.fsync = .always
            $0.topics["urgent"] = urgent
        }
        defer { store.close() }  // the stop ends a spaced wait as well
        _ = try store.append(topic: "slow", events: [item(0)])
        store.flush()
        #expect(waitUntilDurable(store, topic: "slow", end: 1), "a spaced topic's first fsync does not wait")
        _ = try store.append(topic: "slow", events: [item(1)])
        store.flush()  // due in an hour…
        _ = try store.append(topic: "urgent", events: [item(0)])
        store.flush()
        #expect(waitUntilDurable(store, topic: "urgent", end: 1), "…but an always topic's fsync does not wait for it")
        #expect(waitUntilDurable(store, topic: "slow", end: 2), "and the spaced append shares that fsync")
    }

    @Test("a per-topic policy overrides the default")
    func perTopic() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) {
            $0.defaults.fsync = .always
            var fast = TopicLogConfiguration()
            fast.fsync = .never
            $0.topics["fast"] = fast
        }
        defer { store.close() }
        _ = try store.append(topic: "fast", events: [item(0), item(1)])
        _ = try store.append(topic: "slow", events: [item(0), item(1), item(2)])
        #expect(store.durableEnd(topic: "fast") == 2)
        #expect(store.durableEnd(topic: "slow") == 0)
        store.flush()
        #expect(waitUntilDurable(store, topic: "slow", end: 3))
        #expect(store.durableEnd(topic: "fast") == 2)
    }

    @Test("close syncs what was appended; after reopen everything on disk counts as durable")
    func closeAndReopen() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let configure: (inout DurableStoreConfiguration) -> Void = { $0.defaults.fsync = .always }
        do {
            let store = try openStore(directory, configure)
            _ = try store.append(topic: "t", events: (0..<7).map { item($0) })
            #expect(store.durableEnd(topic: "t") == 0)
            store.close()
            store.close()  // a second close is a no-op
        }
        let store = try openStore(directory, configure)
        defer { store.close() }
        #expect(store.durableEnd(topic: "t") == 7)
        #expect(try store.read(topic: "t", from: 0, limit: 10).map { value($0.body) } == Array(0..<7))
    }
}
