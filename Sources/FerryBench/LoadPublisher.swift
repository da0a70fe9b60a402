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
    init(index: Int, plan: LoadPlan, endpoint: String, coordinator: LoadCoordinator) throws {
        self.index = index
        self.plan = plan
        self.coordinator = coordinator
        connection = try BenchConnection(endpoint: endpoint)
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
        let limit = plan.share(of: index) ?? Int.max
        let publishers = UInt64(plan.publishers)
        let maxLag = Nanoseconds.milliseconds(plan.maxLagMilliseconds)
        let stall = Nanoseconds.milliseconds(plan.stallTimeoutMilliseconds)
        var builder = PublishFrameBuilder(topic: plan.topic)
        var payload = BenchPayload(size: plan.payloadBytes)
        var id = EventIDWriter(prefix: "\(index)-")
        var requestID: UInt64 = 10
        var stopping = false
        var lastProgress = MonotonicInstant.now()
        if plan.rate != nil { start.sleepUntil() }

        func dueTime(_ sent: Int) -> MonotonicInstant { start + plan.dueOffset(ofEvent: UInt64(sent) * publishers + UInt64(index)) }

        while true {
            var now = MonotonicInstant.now()
            if !stopping && coordinator.shouldStopPublishing { stopping = true }
            if !stopping, plan.rate != nil, outcome.sent < limit, now > dueTime(outcome.sent) + maxLag {
                // More than MAX_LAG behind the schedule: the rate is not sustained.
                coordinator.stopPublishing(notSustained: true)
                stopping = true
            }
            let outstanding = outcome.sent - outcome.confirmed - outcome.rejected
            if !stopping && outcome.sent < limit {
                let room = min(plan.window - outstanding, limit - outcome.sent, plan.maxBatch)
                if outcome.firstSend == nil && room > 0 && (plan.rate == nil || dueTime(0) <= now) { outcome.firstSend = now }
                while builder.count < room {
                    let global = UInt64(outcome.sent) * publishers + UInt64(index)
                    let stamp: MonotonicInstant
                    if plan.rate != nil {
                        stamp = dueTime(outcome.sent)
                        if stamp > now { break }
                        outcome.sendLag.record(now - stamp)
                    } else {
                        stamp = MonotonicInstant.now()
                    }
                    payload.stamped(timestamp: stamp, sequence: global) { bytes in
                        builder.append(sequence: UInt64(outcome.sent), id: id.next(outcome.sent), payload: bytes)
                    }
                    outcome.sent += 1
                }
                if builder.count > 0 {
                    let batch = builder.count
                    requestID += 1
                    builder.finish(requestID: requestID)
                    try connection.send(body: builder.frame)
                    now = MonotonicInstant.now()
                    outcome.lastSend = now
                    coordinator.add(published: batch)
                }
            }
            let unconfirmed = outcome.sent - outcome.confirmed - outcome.rejected
            let doneSending = stopping || outcome.sent >= limit
            if doneSending && unconfirmed == 0 { break }
            try connection.poll(
                timeoutMilliseconds: pollTimeout(doneSending: doneSending, unconfirmed: unconfirmed, next: dueTime(outcome.sent)))
            let before = outcome.confirmed + outcome.rejected
            try drainReplies(into: &outcome)
            let settled = outcome.confirmed + outcome.rejected - before
            now = MonotonicInstant.now()
            if settled > 0 {
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
