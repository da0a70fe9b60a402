import FerryProtocol
import FerryRuntime
import Foundation

/// What one publisher thread measured.
struct PublisherOutcome: Sendable {
    var firstSend: MonotonicInstant?
    var lastSend: MonotonicInstant?
    var lastConfirm: MonotonicInstant?
    var sent = 0
    var confirmed = 0
    var rejected = 0
    /// Fixed rate: how late each event was sent after its due time.
    var sendLag = LatencyRecorder(keepValues: false)
    /// The first rejection's reason, if any.
    var firstRejection: String?
}

/// One publisher: a thread with its own connection, pipelining Publish batches with at most
/// `plan.window` events unconfirmed. At a fixed rate it follows the open-loop schedule: global
/// event `g` is due at `start + g/rate` seconds and carries its due time; publisher `index` sends
/// the events with `g % publishers == index`. A late event never moves the schedule.
struct LoadPublisher {
    let index: Int
    let plan: LoadPlan
    let coordinator: LoadCoordinator
    let connection: BenchConnection

    /// Connects and checks that the broker answers (Hello → Welcome).
    init(index: Int, plan: LoadPlan, endpoint: String, curve: BenchCurve?, coordinator: LoadCoordinator) throws {
        self.index = index
        self.plan = plan
        self.coordinator = coordinator
        connection = try BenchConnection(endpoint: endpoint, curve: curve)
        var hello = Hello()
        hello.clientName = "ferry-bench-publisher-\(index)"
        _ = try connection.request(.hello(hello), requestID: 1, timeoutMilliseconds: plan.connectTimeoutMilliseconds, what: "Hello")
    }

    /// Publishes until its share is confirmed, or until asked to stop and what was sent is
    /// confirmed. `start` is the schedule's start (fixed rate).
    func run(start: MonotonicInstant) throws -> PublisherOutcome {
        defer { connection.sayGoodbye() }
        if plan.rate != nil { BenchProcess.minimizeTimerSlack() }
        var outcome = PublisherOutcome()
        var sender = Sender(plan: plan, index: index, start: start)
        let maxLag = Nanoseconds.milliseconds(plan.maxLagMilliseconds)
        let stall = Nanoseconds.milliseconds(plan.stallTimeoutMilliseconds)
        var stopping = false
        var lastProgress = MonotonicInstant.now()
        if plan.rate != nil { start.sleepUntil() }
        while true {
            var now = MonotonicInstant.now()
            if !stopping && coordinator.shouldStopPublishing { stopping = true }
            if !stopping, plan.rate != nil, outcome.sent < sender.limit, now > sender.dueTime(outcome.sent) + maxLag {
                // More than MAX_LAG behind the schedule: the rate is not sustained.
                coordinator.stopPublishing(notSustained: true)
                stopping = true
            }
            if !stopping && outcome.sent < sender.limit { try send(&sender, into: &outcome, now: &now) }
            let unconfirmed = outcome.sent - outcome.confirmed - outcome.rejected
            let doneSending = stopping || outcome.sent >= sender.limit
            if doneSending && unconfirmed == 0 { break }
            try connection.poll(
                timeoutMilliseconds: pollTimeout(doneSending: doneSending, unconfirmed: unconfirmed, next: sender.dueTime(outcome.sent)))
            let before = outcome.confirmed + outcome.rejected
            try drainReplies(into: &outcome)
            now = MonotonicInstant.now()
            if outcome.confirmed + outcome.rejected > before {
                lastProgress = now
            } else if unconfirmed > 0 && now - lastProgress > stall {
                throw BenchError(.stalled, "publisher \(index): \(unconfirmed) events unconfirmed for \(plan.stallTimeoutMilliseconds) ms")
            }
            if coordinator.isAborted { break }
            try connection.heartbeatIfIdle(now: now)
        }
        coordinator.publisherFinished()
        return outcome
    }

    /// What a publisher reuses from one Publish to the next: the frame, the payload, the ids.
    private struct Sender {
        var builder: PublishFrameBuilder
        var payload: BenchPayload
        var id: EventIDWriter
        var requestID: UInt64 = 10
        let plan: LoadPlan
        let index: Int
        let start: MonotonicInstant
        /// This publisher's share of the events (nil in the plan: no limit).
        let limit: Int

        init(plan: LoadPlan, index: Int, start: MonotonicInstant) {
            builder = PublishFrameBuilder(topic: plan.topic)
            payload = BenchPayload(size: plan.payloadBytes)
            id = EventIDWriter(prefix: "\(index)-")
            self.plan = plan
            self.index = index
            self.start = start
            limit = plan.share(of: index) ?? Int.max
        }

        /// When this publisher's `sent`-th event is due at a fixed rate.
        func dueTime(_ sent: Int) -> MonotonicInstant {
            start + plan.dueOffset(ofEvent: UInt64(sent) * UInt64(plan.publishers) + UInt64(index))
        }
    }

    /// Sends what the window has room for (at a fixed rate, only what is due) in one Publish.
    private func send(_ sender: inout Sender, into outcome: inout PublisherOutcome, now: inout MonotonicInstant) throws {
        let outstanding = outcome.sent - outcome.confirmed - outcome.rejected
        let room = min(plan.window - outstanding, sender.limit - outcome.sent, plan.maxBatch)
        if outcome.firstSend == nil && room > 0 && (plan.rate == nil || sender.dueTime(0) <= now) { outcome.firstSend = now }
        while sender.builder.count < room {
            let global = UInt64(outcome.sent) * UInt64(plan.publishers) + UInt64(index)
            let stamp: MonotonicInstant
            if plan.rate != nil {
                stamp = sender.dueTime(outcome.sent)
                if stamp > now { break }
                outcome.sendLag.record(now - stamp)
            } else {
                stamp = MonotonicInstant.now()
            }
            let sequence = UInt64(outcome.sent)
            let eventID = sender.id.next(outcome.sent)
            sender.payload.stamped(timestamp: stamp, sequence: global) { bytes in
                sender.builder.append(sequence: sequence, id: eventID, payload: bytes)
            }
            outcome.sent += 1
        }
        guard sender.builder.count > 0 else { return }
        let batch = sender.builder.count
        sender.requestID += 1
        sender.builder.finish(requestID: sender.requestID)
        try connection.send(body: sender.builder.frame)
        now = MonotonicInstant.now()
        outcome.lastSend = now
        coordinator.add(published: batch)
    }

    /// How long to wait for replies: until the next due event at a fixed rate (the last
    /// sub-millisecond is slept precisely), not at all while the window has room in saturation.
    private func pollTimeout(doneSending: Bool, unconfirmed: Int, next: MonotonicInstant) -> Int {
        if doneSending || unconfirmed >= plan.window { return 100 }
        guard plan.rate != nil else { return 0 }
        let now = MonotonicInstant.now()
        guard next > now else { return 0 }
        let wait = Int((next - now).wholeMilliseconds)
        if wait == 0 { next.sleepUntil() }
        return min(wait, 100)
    }

    private func drainReplies(into outcome: inout PublisherOutcome) throws {
        var confirmed = 0
        var rejected = 0
        var error: WireError?
        while try connection.receive({ body in
            var reader = ProtoReader(body)
            while case (let field, let value)? = reader.next() {
                guard case .bytes(let bytes) = value else { continue }
                if field == BenchWire.publishResultField {
                    var result = ProtoReader(bytes)
                    while case (let inner, let item)? = result.next() {
                        if inner == 1, case .bytes(let packed) = item { confirmed += ProtoReader.packedCount(packed) }
                        if inner == 1, case .varint = item { confirmed += 1 }
                        if inner == 2, case .bytes(let rejection) = item {
                            rejected += 1
                            if outcome.firstRejection == nil {
                                let decoded = try WireFormat.decode(Rejection.self, from: rejection)
                                outcome.firstRejection = "\(decoded.code): \(decoded.message)"
                            }
                        }
                    }
                } else if field == 30 {
                    error = try WireFormat.decode(WireError.self, from: bytes)
                }
            }
        }) {}
        if let error { throw BenchError.broker(error) }
        if confirmed + rejected > 0 {
            outcome.confirmed += confirmed
            outcome.rejected += rejected
            outcome.lastConfirm = MonotonicInstant.now()
            coordinator.add(confirmed: confirmed, rejected: rejected)
        }
    }
}

/// Writes event ids `<prefix><n>` into a reused buffer.
struct EventIDWriter {
    private var bytes: [UInt8]
    private let prefixCount: Int

    init(prefix: String) {
        bytes = Array(prefix.utf8)
        prefixCount = bytes.count
    }

    mutating func next(_ number: Int) -> ArraySlice<UInt8> {
        bytes.removeSubrange(prefixCount...)
        var value = number
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
            value /= 10
        } while value > 0
        bytes[start...].reverse()
        return bytes[...]
    }
}
