import FerryTestSupport
import Foundation
import Testing

@testable import FerryStorage

@Suite("DurableEventLog: what a confirm waits for reaches the disk")
struct DurableDirectorySyncTests {
    @Test("a new segment's first sync also syncs its topic's directory and the one above")
    func newSegmentSyncsItsDirectories() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let topic = directory.appendingPathComponent("t")
        try FileManager.default.createDirectory(at: topic, withIntermediateDirectories: true)
        let segment = try Segment(directory: topic, baseOffset: 0)
        #expect(segment.file.directoriesToSync == [topic.path, directory.path])
        try segment.file.sync()
        #expect(segment.file.directoriesToSync.isEmpty)
        #expect(segment.file.syncCount == 1)
        try segment.file.sync()
        #expect(segment.file.syncCount == 2)
    }

    @Test("a log that fsyncs syncs what it recovers before counting it durable")
    func recoveredSegmentsAreSynced() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let small: (inout DurableStoreConfiguration) -> Void = { $0.defaults.segmentBytes = 4096 }
        do {
            // Written without fsyncs, as a killed ferryd may leave its last appends: in the page cache.
            let store = try openStore(directory) {
                small(&$0)
                $0.defaults.fsync = .never
            }
            try appendEach(store, topic: "t", (0..<300).map { item($0) })
            store.close()
        }
        do {
            let store = try openStore(directory) {
                small(&$0)
                $0.defaults.fsync = .never
            }
            defer { store.close() }
            #expect(store.segmentFiles(topic: "t").allSatisfy { $0.syncCount == 0 }, "`never` promises no fsync")
        }
        let store = try openStore(directory) {
            small(&$0)
            $0.defaults.fsync = .batch
        }
        defer { store.close() }
        let files = store.segmentFiles(topic: "t")
        #expect(files.count > 1)
        #expect(store.durableEnd(topic: "t") == 300)
        for file in files { #expect(file.syncCount >= 1, "\(file.path) counts as durable without a sync") }
    }
}
