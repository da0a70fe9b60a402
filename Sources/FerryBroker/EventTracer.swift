import FerryProtocol
import FerryStorage
import SwiftProtobuf

/// What the broker records of each event's life, gathered during a pass and handed to the trace
/// log at its end in one batch (``flush()``): on the broker thread a record costs an append to
/// an array, never a lock or a write.
final class EventTracer {
    private let log: TraceLog
    let sampling: TraceSampling
    /// Records of this pass. Only the broker thread touches them: no dynamic exclusivity check
    /// per append.
    @exclusivity(unchecked) private var records: [TraceRecord] = []
    /// Under `failures` sampling: the events traced since their first failure, oldest first,
    /// at most ``maxFailedEvents``.
    private var failedEvents: Set<EventAddress> = []
    private var failedOrder: [EventAddress] = []
    private var failedOrderStart = 0
    static let maxFailedEvents = 100_000
    /// The longest error text a record keeps (the trace log cuts it there too).
    static let maxDetailBytes = 4096

    struct EventAddress: Hashable {
        let topic: String
        let offset: UInt64
    }

    init(log: TraceLog, sampling: TraceSampling) {
        self.log = log
        self.sampling = sampling
        records.reserveCapacity(1024)
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
    /// a record about many events).
    func record(_ record: TraceRecord, sampled: Bool = true) {
        guard !sampled || traces(topic: record.topic, offset: record.offset) else { return }
        if record.detail.utf8.count > Self.maxDetailBytes {
            // An error text a client sent may be as long as a frame: what a trace keeps is cut.
            var cut = record
            cut.detail = String(decoding: record.detail.utf8.prefix(Self.maxDetailBytes), as: UTF8.self)
            records.append(cut)
            return
        }
        records.append(record)
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
        records.append(
            TraceRecord(
                kind: .published, timeMicros: event.storedAtUs, topic: topic, offset: offset,
                actor: event.headers[PublishFrame.principalHeader] ?? "",
                event: TraceRecord.EventFields(
                    eventID: event.id, key: event.key, correlationID: event.correlationID, causationID: event.causationID, type: event.type)))
        records.append(
            TraceRecord(kind: .delivered, timeMicros: deliveredAt, topic: topic, offset: offset, group: group, actor: member, attempt: attempt))
    }

    /// Hands this pass's records to the trace log.
    func flush() {
        guard !records.isEmpty else { return }
        log.submit(records)
        records.removeAll(keepingCapacity: true)
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
