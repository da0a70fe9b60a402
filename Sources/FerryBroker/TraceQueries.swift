import FerryProtocol
import FerryRuntime
import FerryStorage
import Synchronization

/// Answers `TraceRequest`s on a thread of their own: a search reads the whole trace log, which
/// the broker loop must never wait for. The loop hands a request over and sends the encoded
/// reply when ``answers`` has it.
final class TraceQueries: Sendable {
    struct Job: Sendable {
        let peer: PeerID
        let requestID: UInt64
        let query: TraceQuery
    }

    struct Answer: Sendable {
        let peer: PeerID
        let frame: [UInt8]
    }

    private let thread = LoopThread<Job?>(name: "ferry-trace-q")
    let answers = WakeupQueue<Answer>()
    private let log: TraceLog
    private let sampling: String
    private let waiting = Atomic<Int>(0)
    /// The most searches queued or running; more are refused with `RESOURCE_EXHAUSTED`.
    static let maxWaiting = 16
    /// The most steps in one reply, over all its events: the search keeps a page within it
    /// (``TraceQuery/maxPageSteps``), and a reply is cut short before it.
    static let maxStepsPerReply = 50_000
    /// About the most bytes of a reply, far below a client's frame limit (16 MiB).
    static let maxBytesPerReply = 8 << 20

    init(log: TraceLog, sampling: String) {
        self.log = log
        self.sampling = sampling
        thread.start { [self] in run() }
    }

    /// Queues a search; false when too many are waiting.
    func submit(_ job: Job) -> Bool {
        if waiting.add(1, ordering: .relaxed).newValue > Self.maxWaiting {
            waiting.subtract(1, ordering: .relaxed)
            return false
        }
        thread.commands.push(job)
        return true
    }

    /// Ends the thread: the search running stops at its next segment, the queued ones are
    /// dropped.
    func close() { thread.stop(sending: nil) }

    private func run() {
        while true {
            thread.commands.wait()
            for job in thread.commands.drain() {
                // At shutdown what is queued is dropped: the broker closes, nobody waits.
                guard let job, !thread.isStopRequested else { return }
                let result = log.search(job.query) { thread.isStopRequested }
                var message = ServerMessage()
                message.requestID = job.requestID
                message.trace = Self.reply(result, skip: job.query.skip, sampling: sampling)
                answers.push(Answer(peer: job.peer, frame: WireFormat.encode(message)))
                waiting.subtract(1, ordering: .relaxed)
            }
        }
    }

    /// The wire form of a page, cut short (at least one event kept) when its events hold more
    /// than ``maxStepsPerReply`` steps or about ``maxBytesPerReply`` bytes together.
    static func reply(_ result: TraceSearchResult, skip: Int, sampling: String) -> TraceReply {
        var reply = TraceReply()
        reply.sampling = sampling
        var steps = 0
        var bytes = 0
        for event in result.events {
            let size = event.steps.reduce(256) { $0 + 64 + $1.detail.utf8.count + $1.actor.utf8.count }
            if !reply.events.isEmpty && (steps + event.steps.count > maxStepsPerReply || bytes + size > maxBytesPerReply) { break }
            steps += event.steps.count
            bytes += size
            reply.events.append(wire(event))
        }
        let cut = reply.events.count < result.events.count
        reply.more = result.more || cut
        reply.nextSkip = reply.more ? UInt32(skip + reply.events.count) : 0
        return reply
    }

    private static func wire(_ event: TracedEventRecord) -> TracedEvent {
        var traced = TracedEvent()
        let published = event.published
        traced.topic = published.topic
        traced.offset = published.offset
        traced.id = published.eventID
        traced.key = published.key
        traced.type = published.type
        traced.correlationID = published.correlationID
        traced.causationID = published.causationID
        traced.publishedAtUs = published.timeMicros
        traced.publisher = published.actor
        traced.steps = event.steps.map(wire)
        traced.stepsTruncated = event.stepsTruncated
        return traced
    }

    private static func wire(_ record: TraceRecord) -> TraceStep {
        var step = TraceStep()
        step.kind = kind(record.kind)
        step.atUs = record.timeMicros
        step.group = record.group
        step.actor = record.actor
        step.attempt = record.attempt
        step.detail = record.detail
        if record.kind == .retryScheduled {
            step.dueAtUs = record.number
            step.delayMs = UInt64(max(0, (record.number - record.timeMicros) / 1000))
        }
        return step
    }

    private static func kind(_ kind: TraceRecord.Kind) -> TraceStepKind {
        switch kind {
        case .published: .unspecified
        case .duplicate: .duplicate
        case .delivered: .delivered
        case .acked: .acked
        case .nacked: .nacked
        case .released: .released
        case .ackTimeout: .ackTimeout
        case .memberLost: .memberLost
        case .retryScheduled: .retryScheduled
        case .deadLettered: .deadLettered
        case .requeued: .requeued
        case .replayed: .replayed
        }
    }
}
