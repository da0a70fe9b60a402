@testable import FerryStorage
import Foundation
import Testing

/// Waits (with a deadline) until the writer has written `count` records in all.
func waitForTrace(_ log: TraceLog, written count: UInt64, timeout: Duration = .seconds(10)) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while log.statistics.written < count {
        if ContinuousClock.now >= deadline { return false }
        Thread.sleep(forTimeInterval: 0.002)
    }
    return true
}

func published(_ id: String, topic: String = "orders", offset: UInt64, at time: Int64 = 1_000, key: String = "", correlation: String = "", causation: String = "")
    -> TraceRecord
{
    TraceRecord(
        kind: .published, timeMicros: time, topic: topic, offset: offset, actor: "api",
        event: TraceRecord.EventFields(
            eventID: id, key: key, correlationID: correlation.isEmpty ? id : correlation, causationID: causation, type: "OrderCreated"))
}

@Suite("TraceLog: append, search, restart, retention")
struct TraceLogTests {
    @Test("records come back in order, with the steps of the events searched for and nothing else")
    func searchByID() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let log = try TraceLog(configuration: TraceLogConfiguration(directory: directory.path))
        defer { log.close() }
        log.submit([
            published("a", offset: 0), published("b", offset: 1),
            TraceRecord(kind: .delivered, timeMicros: 2_000, topic: "orders", offset: 0, group: "email", actor: "m1", attempt: 1),
            TraceRecord(kind: .delivered, timeMicros: 2_001, topic: "orders", offset: 1, group: "email", actor: "m1", attempt: 1),
            TraceRecord(kind: .nacked, timeMicros: 3_000, topic: "orders", offset: 0, group: "email", actor: "m1", attempt: 1, detail: "boom"),
            TraceRecord(kind: .retryScheduled, timeMicros: 3_000, topic: "orders", offset: 0, group: "email", attempt: 2, number: 1_003_000),
        ])
        #expect(waitForTrace(log, written: 6))
        let result = log.search(TraceQuery(selector: .eventID("a")))
        #expect(result.events.count == 1)
        let event = try #require(result.events.first)
        #expect(event.published.eventID == "a" && event.published.type == "OrderCreated" && event.published.actor == "api")
        #expect(event.steps.map(\.kind) == [.delivered, .nacked, .retryScheduled])
        #expect(event.steps[1].detail == "boom")
        #expect(event.steps[2].number == 1_003_000 && event.steps[2].attempt == 2)
        #expect(log.search(TraceQuery(selector: .eventID("unknown"))).events.isEmpty)
    }

    @Test("an event id follows the chain: children by causation id, their children, and nothing beside it")
    func chain() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let log = try TraceLog(configuration: TraceLogConfiguration(directory: directory.path))
        defer { log.close() }
        log.submit([
            published("root", offset: 0, correlation: "saga"),
            published("other", offset: 1, correlation: "saga"),
            published("child", topic: "payments", offset: 0, correlation: "saga", causation: "root"),
            published("grandchild", topic: "emails", offset: 0, correlation: "saga", causation: "child"),
            published("unrelated", offset: 2),
        ])
        #expect(waitForTrace(log, written: 5))
        #expect(log.search(TraceQuery(selector: .eventID("root"))).events.map(\.published.eventID) == ["root", "child", "grandchild"])
        #expect(log.search(TraceQuery(selector: .eventID("child"))).events.map(\.published.eventID) == ["child", "grandchild"])
        #expect(
            log.search(TraceQuery(selector: .correlationID("saga"))).events.map(\.published.eventID) == ["root", "other", "child", "grandchild"])
        #expect(log.search(TraceQuery(selector: .key("nope"))).events.isEmpty)
    }

    @Test("a chain of 10,000 descendants comes in pages, each bounded, all of it once")
    func hugeChainIsPaged() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let log = try TraceLog(configuration: TraceLogConfiguration(directory: directory.path))
        defer { log.close() }
        var records = [published("e0", offset: 0)]
        for index in 1...10_000 {
            // Each event caused by one of the first hundred: a wide, deep tree.
            records.append(published("e\(index)", offset: UInt64(index), correlation: "e0", causation: "e\((index - 1) / 100)"))
            records.append(TraceRecord(kind: .delivered, timeMicros: 5_000, topic: "orders", offset: UInt64(index), group: "g", actor: "m", attempt: 1))
        }
        log.submit(records)
        #expect(waitForTrace(log, written: UInt64(records.count)))
        var seen: [String] = []
        var skip = 0
        var pages = 0
        while true {
            let page = log.search(TraceQuery(selector: .eventID("e0"), limit: 1000, skip: skip))
            #expect(page.events.count <= 1000)
            #expect(page.events.allSatisfy { $0.published.eventID == "e0" || $0.steps.count == 1 })
            seen += page.events.map(\.published.eventID)
            pages += 1
            guard page.more else { break }
            skip = page.nextSkip
        }
        #expect(pages == 11)
        #expect(seen.count == 10_001 && Set(seen).count == 10_001)
    }

    @Test("records written before a restart are found after it; a torn last batch is cut off")
    func restart() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let configuration = TraceLogConfiguration(directory: directory.path)
        do {
            let log = try TraceLog(configuration: configuration)
            log.submit([published("a", offset: 0)])
            #expect(waitForTrace(log, written: 1))
            log.close()
        }
        // A crash in the middle of a write leaves part of a frame.
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path).first)
        let handle = try #require(FileHandle(forWritingAtPath: directory.path + "/" + file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([40, 0, 0, 0, 1, 2, 3]))
        try handle.close()
        let log = try TraceLog(configuration: configuration)
        defer { log.close() }
        log.submit([published("b", offset: 1)])
        #expect(waitForTrace(log, written: 1))
        #expect(log.search(TraceQuery(selector: .eventID("a"))).events.count == 1)
        #expect(log.search(TraceQuery(selector: .eventID("b"))).events.count == 1)
    }

    @Test("retention deletes the oldest segments past the size and age limits, and counts their records")
    func retention() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        var configuration = TraceLogConfiguration(directory: directory.path)
        configuration.segmentBytes = 4096
        configuration.maxBytes = 16 << 10
        configuration.maxAgeSeconds = 3600
        let log = try TraceLog(configuration: configuration)
        defer { log.close() }
        for batch in 0..<40 {
            log.submit((0..<20).map { published("e\(batch)-\($0)", offset: UInt64(batch * 20 + $0), key: String(repeating: "k", count: 40)) })
            #expect(waitForTrace(log, written: UInt64((batch + 1) * 20)))
        }
        log.applyRetention(now: Date())
        let deadline = ContinuousClock.now + .seconds(10)
        while log.statistics.expired == 0 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.002) }
        let statistics = log.statistics
        #expect(statistics.expired > 0)
        #expect(statistics.storedBytes <= configuration.maxBytes)
        #expect(log.search(TraceQuery(selector: .eventID("e0-0"))).events.isEmpty)
        #expect(log.search(TraceQuery(selector: .eventID("e39-19"))).events.count == 1)
        // An hour and more later every segment but the newest is past its age.
        let before = statistics.expired
        log.applyRetention(now: Date().addingTimeInterval(7200))
        while log.statistics.expired == before && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.002) }
        #expect(log.statistics.expired + 40 >= 800)
        #expect(log.search(TraceQuery(selector: .eventID("e39-19"))).events.count == 1)
    }

    @Test("past the queue's budget, records are dropped and counted, never queued without bound")
    func dropsWhenBehind() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        var configuration = TraceLogConfiguration(directory: directory.path)
        configuration.maxQueuedRecords = 10
        let log = try TraceLog(configuration: configuration)
        defer { log.close() }
        log.submit((0..<11).map { published("e\($0)", offset: UInt64($0)) })
        #expect(log.statistics.dropped == 11)
        log.submit((0..<5).map { published("f\($0)", offset: UInt64($0)) })
        #expect(waitForTrace(log, written: 5))
    }

    @Test("a page stays within its step budget by leaving its last events to the next page; an event recorded twice is listed once")
    func pageBudgetAndDuplicates() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let log = try TraceLog(configuration: TraceLogConfiguration(directory: directory.path))
        defer { log.close() }
        var records: [TraceRecord] = []
        for offset in 0..<3 {
            records.append(published("e\(offset)", offset: UInt64(offset), key: "k"))
            for attempt in 1...5 {
                records.append(
                    TraceRecord(kind: .delivered, timeMicros: 2_000, topic: "orders", offset: UInt64(offset), group: "g", actor: "m", attempt: UInt32(attempt)))
            }
        }
        // The same event's publish recorded again (as `failures` sampling does after a restart).
        records.append(published("e0", offset: 0, key: "k"))
        log.submit(records)
        #expect(waitForTrace(log, written: UInt64(records.count)))
        let first = log.search(TraceQuery(selector: .key("k"), limit: 10, maxSteps: 5, maxPageSteps: 10))
        #expect(first.events.map(\.published.eventID) == ["e0", "e1"])
        #expect(first.events.allSatisfy { $0.steps.count == 5 && !$0.stepsTruncated })
        #expect(first.more && first.nextSkip == 2)
        let second = log.search(TraceQuery(selector: .key("k"), limit: 10, skip: 2, maxSteps: 5, maxPageSteps: 10))
        #expect(second.events.map(\.published.eventID) == ["e2"])
        #expect(!second.more && second.nextSkip == 0)
    }

    @Test("a whole frame this build cannot decode is passed over, not cut off as a torn tail; long texts are cut")
    func unknownFrameAndLongTexts() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let configuration = TraceLogConfiguration(directory: directory.path)
        do {
            let log = try TraceLog(configuration: configuration)
            log.submit([published("before", offset: 0)])
            #expect(waitForTrace(log, written: 1))
            log.close()
        }
        // A frame of a later format (version 9), whole and with a good CRC.
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path).first)
        var frame = [UInt8](repeating: 0, count: 8) + [9, 1, 2, 3]
        frame.withUnsafeMutableBytes { CRCFrameForTests.seal($0) }
        let handle = try #require(FileHandle(forWritingAtPath: directory.path + "/" + file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(frame))
        try handle.close()
        let log = try TraceLog(configuration: configuration)
        defer { log.close() }
        let longError = String(repeating: "x", count: 10_000)
        log.submit([
            published("after", offset: 1),
            TraceRecord(kind: .nacked, timeMicros: 3_000, topic: "orders", offset: 1, group: "g", actor: "m", attempt: 1, detail: longError),
        ])
        #expect(waitForTrace(log, written: 2))
        #expect(log.search(TraceQuery(selector: .eventID("before"))).events.count == 1)
        let after = try #require(log.search(TraceQuery(selector: .eventID("after"))).events.first)
        #expect(after.steps.first?.detail.utf8.count == 4096)
    }

    @Test("records waiting for the writer are bounded in bytes too: a publish's record holds the stored event")
    func queuedBytesBudget() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        var configuration = TraceLogConfiguration(directory: directory.path)
        configuration.maxQueuedBytes = 64 << 10
        let log = try TraceLog(configuration: configuration)
        defer { log.close() }
        let big = TraceRecord.published(timeMicros: 1, topic: "orders", offset: 0, publisher: "api", envelope: [UInt8](repeating: 1, count: 100_000))
        log.submit([big])
        #expect(log.statistics.dropped == 1)
    }
}

/// Seals a CRC frame the way the trace log does (length, CRC32C), for tests that write frames.
enum CRCFrameForTests {
    static func seal(_ frame: UnsafeMutableRawBufferPointer) {
        CRCFrame.seal(frame.baseAddress!, frameSize: frame.count)
    }
}
