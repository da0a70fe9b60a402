import FerryTestSupport
import Foundation
import Testing

@testable import FerryStorage

#if canImport(Glibc)
    import Glibc
#endif

/// After a failed fdatasync the kernel may have dropped the data and marked its pages clean: a
/// later fdatasync succeeds without writing it. Such a failure, whichever thread sees it, must
/// not let the data count as durable until it was written again and synced.
@Suite("DurableEventLog: write-back errors")
struct DurableSyncFailureTests {
    @Test("a failed sync, even one the runway thread saw, makes the next durable sync rewrite what was not yet on disk")
    func failureIsRemembered() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let segment = try Segment(directory: directory, baseOffset: 0)
        let file = segment.file
        let first = [UInt8](repeating: 1, count: 1000)
        let second = [UInt8](repeating: 2, count: 500)
        try file.append(first, at: 0)
        try file.sync(writtenEnd: 1000)
        #expect(file.syncSnapshot.syncedEnd == 1000)

        try file.append(second, at: 1000)
        file.injectSyncFailures(1)
        #expect(throws: StorageError.self) { try file.sync() }
        #expect(file.syncSnapshot.failed)
        // A sync without a written end (the runway thread's) cannot clear the failure.
        try file.sync()
        #expect(file.syncSnapshot.failed)
        #expect(file.syncSnapshot.syncedEnd == 1000)

        try file.sync(writtenEnd: 1500)
        let state = file.syncSnapshot
        #expect(!state.failed)
        #expect(state.rewrittenBytes == 500, "only what the last good sync did not cover is written again")
        #expect(state.syncedEnd == 1500)
        #expect(try file.read(count: 1500, at: 0) == first + second)
        try file.sync(writtenEnd: 1500)
        #expect(file.syncSnapshot.rewrittenBytes == 500)
    }

    @Test("the rewrite after a failed sync writes the appends kept in memory, not pages the kernel may have dropped")
    func rewriteFromMemory() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let budget = UnsyncedBudget(limit: 1 << 20)
        let file = try Segment(directory: directory, baseOffset: 0).file
        let first = [UInt8](repeating: 1, count: 1000)
        let second = [UInt8](repeating: 2, count: 500)
        // Recovered data (not kept) below the kept appends: read back for the rewrite.
        try file.append(first, at: 0)
        #expect(try file.read(count: 1000, at: 0) == first)
        try Self.keptAppend(second, to: file, at: 1000, within: budget)
        #expect(file.syncSnapshot.unsyncedBytes == 500 && budget.waiting == 500)
        file.injectSyncFailures(1)
        #expect(throws: StorageError.self) { try file.sync(writtenEnd: 1500) }
        // The failed pages were evicted: reading them back now returns what the disk holds.
        let other = open(file.path, O_WRONLY)
        #expect(other >= 0)
        let zeros = [UInt8](repeating: 0, count: 500)
        #expect(zeros.withUnsafeBytes { pwrite(other, $0.baseAddress, 500, 1000) } == 500)
        close(other)

        try file.sync(writtenEnd: 1500)
        #expect(try file.read(count: 1500, at: 0) == first + second)
        #expect(file.syncSnapshot.rewrittenBytes == 1500)
        #expect(file.syncSnapshot.unsyncedBytes == 0 && budget.waiting == 0, "a good sync lets go of what it covered")
    }

    @Test("appends are refused once the store's budget of bytes waiting for a sync is used, and accepted after a sync")
    func budgetBoundsWaitingBytes() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let budget = UnsyncedBudget(limit: 3000)
        // Two files (two topics, or a rolled segment and its successor) share the budget.
        let files = [try Segment(directory: directory, baseOffset: 0).file, try Segment(directory: directory, baseOffset: 100).file]
        let chunk = [UInt8](repeating: 7, count: 1000)
        try Self.keptAppend(chunk, to: files[0], at: 0, within: budget)
        try Self.keptAppend(chunk, to: files[1], at: 0, within: budget)
        try Self.keptAppend(chunk, to: files[0], at: 1000, within: budget)
        let error = #expect(throws: StorageError.self) { try Self.keptAppend(chunk, to: files[1], at: 1000, within: budget) }
        #expect(error?.code == .full && error?.message.contains("wait for an fdatasync") == true)
        #expect(budget.waiting == 3000 && files[1].syncSnapshot.unsyncedBytes == 1000, "a refused append keeps nothing")

        try files[0].sync(writtenEnd: 2000)
        #expect(budget.waiting == 1000)
        try Self.keptAppend(chunk, to: files[1], at: 1000, within: budget)
        #expect(budget.waiting == 2000)
    }

    /// Appends as a log that fsyncs does: kept first, then written.
    private static func keptAppend(_ bytes: [UInt8], to file: SegmentFile, at position: Int, within budget: UnsyncedBudget) throws {
        try file.keepUntilSynced(bytes, at: position, within: budget)
        try file.append(bytes, at: position)
    }

    @Test("a topic whose fdatasync failed becomes durable only after the rewrite", arguments: [FsyncPolicy.always, .batch])
    func storeRecovers(policy: FsyncPolicy) throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let store = try openStore(directory) { $0.defaults.fsync = policy }
        defer { store.close() }
        _ = try store.append(topic: "t", events: [item(0)])
        let file = try #require(store.segmentFiles(topic: "t").last)
        file.injectSyncFailures(1)
        _ = try store.append(topic: "t", events: (1..<5).map { item($0) })
        #expect(
            Wait.untilSync(timeout: .seconds(10)) {
                store.flush()
                usleep(1000)
                store.collectSyncs()
                return store.durableEnd(topic: "t") == 5
            })
        let state = file.syncSnapshot
        #expect(state.failures == 1)
        #expect(state.rewrittenBytes > 0, "the data was counted durable without being written again")
        #expect(!state.failed)
    }
}
