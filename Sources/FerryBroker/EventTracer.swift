import FerryProtocol
import FerryStorage
import SwiftProtobuf

/// What the broker records of each event's life, staged during a pass and handed to the trace
/// log at its end in one batch (``flush()``): on the broker thread a record costs a few stores
/// into a buffer, never a lock, a write, or a string copied or retained (names go as numbers,
/// cached on the objects they name).
final class EventTracer {
    private let log: TraceLog
    let sampling: TraceSampling
    /// The numbers of the names records use. Only the broker thread touches the tracer: no
    /// dynamic exclusivity check per record.
    @exclusivity(unchecked) private(set) var names = TraceNameTable()
    /// Records of this pass.
    @exclusivity(unchecked) private var batch: TraceBatch
    /// The size of the last batch handed over: the next one starts with room for as much.
    private var lastBatchBytes = 4096
    /// Under `failures` sampling: the events traced since their first failure, oldest first,
    /// at most ``maxFailedEvents``.
    private var failedEvents: Set<EventAddress> = []
    private var failedOrder: [EventAddress] = []
    private var failedOrderStart = 0
    static let maxFailedEvents = 100_000

    struct EventAddress: Hashable {
        let topic: String
        let offset: UInt64
    }

    init(log: TraceLog, sampling: TraceSampling) {
        self.log = log
        self.sampling = sampling
        batch = TraceBatch(names: names.names)
    }

    /// Whether the steps of the event at `offset` of `topic` are recorded.
    func traces(topic: String, offset: UInt64) -> Bool {
        switch sampling {
        case .all: true
        case .fraction(let share): Self.unitHash(topicHash: topicHash(topic), offset: offset) < share
        case .failures: failedEvents.contains(EventAddress(topic: topic, offset: offset))
        }
    }

    /// Records `record` if its event is sampled (or, with `sampled` false, whatever the sampling:
    /// a record about many events). For the steps that are not on every event's way: those
    /// use the methods below, with names numbered once.
    func record(_ record: TraceRecord, sampled: Bool = true) {
        guard !sampled || traces(topic: record.topic, offset: record.offset) else { return }
        batch.append(record, numberingIn: &names)
    }

    /// The number of `name` in this pass's table.
    func number(of name: String) -> UInt32 { names.number(of: name) }

    /// The number of the name `cache` holds, or of `name()`, cached there.
    @inline(__always)
    func number(cachedIn cache: inout TraceNameCache, _ name: () -> String) -> UInt32 {
        names.number(cachedIn: &cache, name)
    }

    /// Records that the event at `offset` of `topic` was stored and confirmed: the writer reads
    /// its fields from `envelope`, the bytes stored.
    @inline(__always)
    func recordPublished(timeMicros: Int64, topic: UInt32, offset: UInt64, publisher: UInt32, envelope: [UInt8]) {
        envelope.withUnsafeBytes {
            batch.appendPublished(timeMicros: timeMicros, topic: topic, offset: offset, publisher: publisher, envelope: $0)
        }
    }

    /// Records a step of an event (the caller has checked that the event is sampled).
    @inline(__always)
    func record(
        _ kind: TraceRecord.Kind, timeMicros: Int64, topic: UInt32, offset: UInt64, group: UInt32, actor: UInt32, attempt: UInt32,
        detail: String = ""
    ) {
        batch.append(kind, timeMicros: timeMicros, topic: topic, offset: offset, group: group, actor: actor, attempt: attempt, detail: detail)
    }

    /// Under `failures` sampling, starts tracing an event at its first failure: the event as
    /// stored (`body`) and the delivery that failed, delivered at `deliveredAt`.
    func noteFailure(topic: String, offset: UInt64, body: [UInt8], deliveredAt: Int64, group: String, member: String, attempt: UInt32) {
        guard case .failures = sampling else { return }
        let address = EventAddress(topic: topic, offset: offset)
        guard failedEvents.insert(address).inserted else { return }
        failedOrder.append(address)
        if failedOrder.count - failedOrderStart > Self.maxFailedEvents {
            failedEvents.remove(failedOrder[failedOrderStart])
            failedOrderStart += 1
            if failedOrderStart > Self.maxFailedEvents {
                failedOrder.removeFirst(failedOrderStart)
                failedOrderStart = 0
            }
        }
        let event = (try? WireEvent(serializedBytes: body)) ?? WireEvent()
        record(
            TraceRecord(
                kind: .published, timeMicros: event.storedAtUs, topic: topic, offset: offset,
                actor: event.headers[PublishFrame.principalHeader] ?? "",
                event: TraceRecord.EventFields(
                    eventID: event.id, key: event.key, correlationID: event.correlationID, causationID: event.causationID, type: event.type)),
            sampled: false)
        record(
            TraceRecord(kind: .delivered, timeMicros: deliveredAt, topic: topic, offset: offset, group: group, actor: member, attempt: attempt),
            sampled: false)
    }

    /// Hands this pass's records to the trace log, and starts the next batch (with a new name
    /// table once this one is full).
    func flush() {
        guard batch.count > 0 else { return }
        lastBatchBytes = batch.byteCount
        log.submit(batch)
        names.renewIfFull()
        batch = TraceBatch(names: names.names, capacity: lastBatchBytes + lastBatchBytes / 4)
    }

    /// The last topic hashed and its hash: events come topic by topic, and comparing a topic to
    /// the same string is cheaper than hashing it again.
    private var lastTopic: (name: String, hash: UInt64) = ("", topicHash(of: ""))

    private func topicHash(_ topic: String) -> UInt64 {
        if topic == lastTopic.name { return lastTopic.hash }
        lastTopic = (topic, Self.topicHash(of: topic))
        return lastTopic.hash
    }

    /// FNV-1a of the topic's UTF-8.
    static func topicHash(of topic: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in topic.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    /// A number in [0, 1) from topic and offset (a mix of the topic's hash and the offset), the
    /// same in every run.
    static func unitHash(topicHash: UInt64, offset: UInt64) -> Double {
        var hash = topicHash
        hash ^= offset &* 0x9E37_79B9_7F4A_7C15
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return Double(hash >> 11) / Double(1 << 53)
    }
}
