@testable import FerryStorage
import Foundation
import Testing

@Suite("TraceBatch: records staged with numbered names")
struct TraceBatchTests {
    /// An "envelope" for these tests: the five fields, each a length byte and its bytes.
    static func envelope(_ fields: [String]) -> [UInt8] {
        fields.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
    }

    static func readEnvelope(_ bytes: UnsafeRawBufferPointer) -> TraceRecord.EnvelopeLayout {
        var ranges: [Range<Int>] = []
        var position = 0
        while position < bytes.count, ranges.count < 5 {
            let length = Int(bytes[position])
            ranges.append((position + 1)..<(position + 1 + length))
            position += 1 + length
        }
        var layout = TraceRecord.EnvelopeLayout()
        if ranges.count == 5 {
            (layout.eventID, layout.key, layout.correlationID, layout.causationID, layout.type) =
                (ranges[0], ranges[1], ranges[2], ranges[3], ranges[4])
        }
        return layout
    }

    @Test("every way of staging a record comes back from the log as it went in")
    func stagedRoundTrip() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let log = try TraceLog(configuration: TraceLogConfiguration(directory: directory.path), readEnvelope: Self.readEnvelope)
        defer { log.close() }
        var table = TraceNameTable()
        let batch = TraceBatch(names: table.names, capacity: 16)
        let orders = table.number(of: "orders")
        let api = table.number(of: "api")
        let email = table.number(of: "email")
        let member = table.number(of: "worker-1")
        Self.envelope(["e1", "order-1", "saga", "", "OrderCreated"]).withUnsafeBytes {
            batch.appendPublished(timeMicros: 1_000, topic: orders, offset: 0, publisher: api, envelope: $0)
        }
        batch.appendPublished(
            timeMicros: 1_001, topic: orders, offset: 1, publisher: api,
            fields: TraceRecord.EventFields(eventID: "e2", key: "order-2", correlationID: "saga", causationID: "e1", type: "OrderPaid"))
        batch.append(.delivered, timeMicros: 2_000, topic: orders, offset: 0, group: email, actor: member, attempt: 1)
        batch.append(.nacked, timeMicros: 3_000, topic: orders, offset: 0, group: email, actor: member, attempt: 1, detail: "smtp down")
        batch.append(.retryScheduled, timeMicros: 3_000, topic: orders, offset: 0, group: email, attempt: 2, number: 1_003_000)
        // An error text a client sent may be as long as a frame: the batch keeps 4 KiB of it.
        batch.append(.nacked, timeMicros: 4_000, topic: orders, offset: 1, group: email, actor: member, attempt: 1,
            detail: String(repeating: "x", count: 100_000))
        #expect(batch.count == 6 && batch.byteCount < 4096 + 1024)
        log.submit(batch)
        #expect(waitForTrace(log, written: 6))

        let first = try #require(log.search(TraceQuery(selector: .eventID("e1"))).events.first)
        #expect(first.published.key == "order-1" && first.published.type == "OrderCreated" && first.published.actor == "api")
        #expect(first.published.topic == "orders" && first.published.offset == 0 && first.published.timeMicros == 1_000)
        #expect(first.steps.map(\.kind) == [.delivered, .nacked, .retryScheduled])
        #expect(first.steps.map(\.group) == ["email", "email", "email"])
        #expect(first.steps[0].actor == "worker-1" && first.steps[1].detail == "smtp down")
        #expect(first.steps[2].attempt == 2 && first.steps[2].number == 1_003_000)
        let second = try #require(log.search(TraceQuery(selector: .eventID("e2"))).events.first)
        #expect(second.published.causationID == "e1" && second.published.type == "OrderPaid")
        #expect(second.steps.count == 1 && second.steps[0].detail.utf8.count == TraceCodec.maxDetailBytes)
        // The chain: e2 was caused by e1.
        #expect(log.search(TraceQuery(selector: .eventID("e1"))).events.map(\.published.eventID) == ["e1", "e2"])
    }

    @Test("a full name table starts a new one: cached numbers are renumbered, and each batch keeps the names it was staged with")
    func tableRenewal() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let log = try TraceLog(configuration: TraceLogConfiguration(directory: directory.path))
        defer { log.close() }
        var table = TraceNameTable(capacity: 4)
        var cached = TraceNameCache()
        let firstNumber = table.number(cachedIn: &cached) { "orders" }
        #expect(table.number(cachedIn: &cached) { Issue.record("a cached number is not looked up again"); return "" } == firstNumber)

        // Three names and the empty one fill the first table; the writer has seen only part
        // of it when the next batch uses a name numbered later.
        let old = TraceBatch(names: table.names)
        old.appendPublished(
            timeMicros: 1_000, topic: firstNumber, offset: 0, publisher: table.number(of: "api"),
            fields: TraceRecord.EventFields(eventID: "old", type: "A"))
        log.submit(old)
        #expect(waitForTrace(log, written: 1))
        let late = TraceBatch(names: table.names)
        late.append(.delivered, timeMicros: 2_000, topic: firstNumber, offset: 0, group: table.number(of: "email"), attempt: 1)
        log.submit(late)
        let generation = table.generation
        table.renewIfFull()
        #expect(table.generation != generation)

        // In the new table the same numbers name other things.
        let renumbered = table.number(cachedIn: &cached) { "payments" }
        let fresh = TraceBatch(names: table.names)
        fresh.appendPublished(
            timeMicros: 3_000, topic: renumbered, offset: 0, publisher: table.number(of: "billing"),
            fields: TraceRecord.EventFields(eventID: "new", type: "B"))
        log.submit(fresh)
        #expect(waitForTrace(log, written: 3))

        let before = try #require(log.search(TraceQuery(selector: .eventID("old"))).events.first)
        #expect(before.published.topic == "orders" && before.published.actor == "api")
        #expect(before.steps.map(\.group) == ["email"])
        let after = try #require(log.search(TraceQuery(selector: .eventID("new"))).events.first)
        #expect(after.published.topic == "payments" && after.published.actor == "billing")
    }
}
