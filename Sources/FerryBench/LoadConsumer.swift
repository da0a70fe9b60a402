import FerryProtocol
import FerryRuntime
import Foundation

/// What one consumer (a group member) measured.
struct ConsumerOutcome: Sendable {
    var group = 0
    var received = 0
    var duplicates = 0
    var malformed = 0
    /// Deliver frames read.
    var batches = 0
    var lastReceive: MonotonicInstant?
    /// When the broker answered the round trip sent after the final ack.
    var finalAckProcessed: MonotonicInstant?
    var latencies: LatencyRecorder
    var sequences = SequenceSet()
}

/// One member of a consumer group: a thread with its own connection that reads Deliver frames,
/// records publish-to-handler latency (receive time − the payload's timestamp, the receive time
/// taken once per frame), and acknowledges every frame's deliveries with one Settle.
struct LoadConsumer {
    let group: Int
    let plan: LoadPlan
    let coordinator: LoadCoordinator
    let connection: BenchConnection

    /// Connects and subscribes; returns once the broker confirmed the subscription.
    init(
        group: Int, groupName: String, member: Int, plan: LoadPlan, endpoint: String, curve: BenchCurve?, coordinator: LoadCoordinator
    ) throws {
        self.group = group
        self.plan = plan
        self.coordinator = coordinator
        connection = try BenchConnection(endpoint: endpoint, curve: curve, receiveHighWaterMark: 0)
        var subscribe = Subscribe()
        subscribe.group = groupName
        subscribe.patterns = [plan.topic]
        subscribe.maxInFlight = UInt32(plan.maxInFlight)
        subscribe.memberName = "\(groupName)-\(member)"
        _ = try connection.request(
            .subscribe(subscribe), requestID: 1, timeoutMilliseconds: plan.connectTimeoutMilliseconds, what: "Subscribe")
    }

    /// Consumes until the group has every confirmed event and the publishers are done, then
    /// makes one round trip so that its final ack is known to be processed.
    func run() throws -> ConsumerOutcome {
        defer { connection.sayGoodbye() }
        let perWorker = (plan.count ?? 0) / max(1, plan.workersPerGroup)
        var outcome = ConsumerOutcome(group: group, latencies: LatencyRecorder(keepValues: plan.exactPercentiles, expected: perWorker))
        var settle = SettleFrameBuilder()
        var lastProgress = MonotonicInstant.now()
        let stall = Nanoseconds.milliseconds(plan.stallTimeoutMilliseconds)
        while true {
            try connection.poll(timeoutMilliseconds: 100)
            let before = outcome.received
            var error: WireError?
            while try connection.receive({ body in
                if let failure = read(body, into: &outcome, settle: &settle) { error = failure }
                if plan.settlePerDeliver && settle.count > 0 { try flush(&settle) }
            }) {}
            if let error { throw BenchError.broker(error) }
            if settle.count > 0 { try flush(&settle) }
            let now = MonotonicInstant.now()
            let fresh = outcome.received - before
            if coordinator.received(fresh, group: group) || coordinator.isAborted { break }
            if fresh > 0 {
                lastProgress = now
            } else if coordinator.allPublishersFinished && now - lastProgress > stall {
                throw BenchError(.stalled, "group \(group): nothing delivered for \(plan.stallTimeoutMilliseconds) ms")
            }
            try connection.heartbeatIfIdle(now: now)
        }
        if coordinator.isAborted { return outcome }
        _ = try connection.request(.stats(StatsRequest()), requestID: 2, timeoutMilliseconds: 10_000, what: "the final Stats")
        outcome.finalAckProcessed = MonotonicInstant.now()
        return outcome
    }

    private func flush(_ settle: inout SettleFrameBuilder) throws {
        settle.finish()
        try connection.send(body: settle.frame)
    }

    /// Reads one `ServerMessage`: a Deliver's events are counted and queued for the ack; an
    /// error reply is returned.
    private func read(_ body: UnsafeRawBufferPointer, into outcome: inout ConsumerOutcome, settle: inout SettleFrameBuilder) -> WireError? {
        var message = ProtoReader(body)
        while case (let field, let value)? = message.next() {
            guard case .bytes(let bytes) = value else { continue }
            if field == 30 { return try? WireFormat.decode(WireError.self, from: bytes) }
            guard field == BenchWire.deliverField else { continue }
            let now = MonotonicInstant.now()
            outcome.batches += 1
            outcome.lastReceive = now
            var deliver = ProtoReader(bytes)
            while case (let deliveryField, let deliveryValue)? = deliver.next() {
                guard deliveryField == 1, case .bytes(let delivery) = deliveryValue else { continue }
                var deliveryID: UInt64 = 0
                var payload: UnsafeRawBufferPointer?
                var fields = ProtoReader(delivery)
                while case (let number, let item)? = fields.next() {
                    if number == 2, case .varint(let id) = item { deliveryID = id }
                    if number == 5, case .bytes(let event) = item { payload = Self.payload(ofEvent: event) }
                }
                settle.ack(deliveryID)
                guard let payload, let stamp = BenchPayload.read(payload) else {
                    outcome.malformed += 1
                    continue
                }
                guard outcome.sequences.insert(stamp.sequence) else {
                    outcome.duplicates += 1
                    continue
                }
                outcome.received += 1
                outcome.latencies.record(now - stamp.timestamp)
            }
        }
        return nil
    }

    private static func payload(ofEvent event: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var reader = ProtoReader(event)
        while case (let field, let value)? = reader.next() {
            if field == 6, case .bytes(let payload) = value { return payload }
        }
        return nil
    }
}
