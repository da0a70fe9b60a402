import FerryProtocol
import FerryRuntime
public import FerryStorage
import Metrics

/// The trace: what the broker records of each event's life (through ``EventTracer``), and the
/// `TraceRequest` command that reads it back.
extension Broker {
    /// The longest id, key or correlation id a `TraceRequest` may name.
    static let maxTraceSelectorBytes = 1024

    func handleTrace(_ request: TraceRequest, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        let selector: TraceQuery.Selector
        switch request.selector {
        case .eventID(let id): selector = .eventID(id)
        case .key(let key): selector = .key(key)
        case .correlationID(let correlation): selector = .correlationID(correlation)
        case nil: throw ProtocolError(.missingField, "trace needs an event_id, a key or a correlation_id")
        }
        let text: String
        switch selector {
        case .eventID(let value), .key(let value), .correlationID(let value): text = value
        }
        if text.isEmpty { throw ProtocolError(.missingField, "trace needs a non-empty event_id, key or correlation_id") }
        if text.utf8.count > Self.maxTraceSelectorBytes {
            throw ProtocolError(
                .invalidArgument, "a trace selector of \(text.utf8.count) bytes; the limit is \(Self.maxTraceSelectorBytes)")
        }
        guard let traceQueries else {
            throw ProtocolError(.invalidArgument, "this broker keeps no trace log (tracing is off, or events are kept in memory)")
        }
        let limit = request.limit == 0 ? 100 : min(Int(request.limit), 1000)
        let job = TraceQueries.Job(
            peer: peer.id, requestID: requestID,
            query: TraceQuery(selector: selector, limit: limit, skip: Int(request.skip), maxPageSteps: TraceQueries.maxStepsPerReply))
        guard traceQueries.submit(job) else {
            throw ProtocolError(
                .resourceExhausted, "\(TraceQueries.maxWaiting) trace searches are already waiting; retry when they are answered")
        }
        metrics.traceSearches.increment()
    }

    /// Sends the answers of finished trace searches to peers still connected.
    func sendTraceAnswers() {
        guard let traceQueries else { return }
        for answer in traceQueries.answers.drain() {
            guard let peer = peers[answer.peer] else { continue }
            send(answer.frame, to: peer)
        }
    }

    /// The name a trace gives a connection: its principal, else its client name, else its id.
    func traceName(of peer: Peer) -> String {
        if let principal = peer.principal?.name { return principal }
        return peer.name.isEmpty ? "\(peer.id)" : peer.name
    }

    /// The name a trace gives a member: the one it subscribed with, else its connection's.
    func traceName(of member: Member) -> String {
        member.name.isEmpty ? traceName(of: member.peer) : member.name
    }

    // The numbers of names in the tracer's table, cached on what they name: the records on
    // every event's way (delivered, acked) hash no string.

    @inline(__always)
    func traceNumber(of peer: Peer) -> UInt32 {
        tracer?.number(cachedIn: &peer.traceName) { traceName(of: peer) } ?? 0
    }

    @inline(__always)
    func traceNumber(of member: Member) -> UInt32 {
        if member.name.isEmpty { return traceNumber(of: member.peer) }
        return tracer?.number(cachedIn: &member.traceName) { member.name } ?? 0
    }

    @inline(__always)
    func traceNumber(of group: ConsumerGroup) -> UInt32 {
        tracer?.number(cachedIn: &group.traceName) { group.name } ?? 0
    }

    /// The topic's number, cached on `cursor` when the delivery has one (a requeued dead
    /// letter's has none).
    @inline(__always)
    func traceNumber(ofTopic topic: String, cursor: TopicCursor?) -> UInt32 {
        guard let tracer else { return 0 }
        guard let cursor else { return tracer.number(of: topic) }
        return tracer.number(cachedIn: &cursor.traceTopic) { topic }
    }

    /// Records an outcome of `delivery` (`kind`, with `detail`); a failure first starts tracing
    /// the event under `failures` sampling.
    func traceOutcome(_ kind: TraceRecord.Kind, of delivery: InFlightDelivery, detail: String = "") {
        guard let tracer else { return }
        if kind != .acked && kind != .released {
            // Delivered one ack timeout before its deadline.
            let timeout = Int64(Nanoseconds.milliseconds(delivery.member.group.policy.ackTimeoutMilliseconds).wholeMicroseconds)
            let deliveredAgo =
                delivery.deadline < now
                ? timeout + Int64((now - delivery.deadline).wholeMicroseconds)
                : timeout - Int64((delivery.deadline - now).wholeMicroseconds)
            tracer.noteFailure(
                topic: delivery.topic, offset: delivery.offset, body: delivery.body, deliveredAt: wallNow - deliveredAgo,
                group: delivery.member.group.name, member: traceName(of: delivery.member), attempt: delivery.attempt)
        }
        // An ack (most outcomes) of an event not sampled costs no record.
        guard tracer.traces(topic: delivery.topic, offset: delivery.offset) else { return }
        tracer.record(
            kind, timeMicros: wallNow, topic: traceNumber(ofTopic: delivery.topic, cursor: delivery.cursor), offset: delivery.offset,
            group: traceNumber(of: delivery.member.group), actor: traceNumber(of: delivery.member), attempt: delivery.attempt, detail: detail)
    }
}

extension Broker {
    /// Brings the trace log's counters and size up to date.
    func recordTraceMetrics() {
        guard let trace = traceLog?.statistics else { return }
        metrics.traceWritten.increment(by: Int(trace.written - countedTrace.written))
        metrics.traceDropped.increment(by: Int(trace.dropped - countedTrace.dropped))
        metrics.traceExpired.increment(by: Int(trace.expired - countedTrace.expired))
        metrics.traceFailed.increment(by: Int(trace.failed - countedTrace.failed))
        metrics.traceStoredBytes.record(trace.storedBytes)
        countedTrace = trace
    }
}

extension Broker {
    /// Where the fields a trace keeps of an event lie in its stored envelope (an `Event`
    /// message): what ferryd gives its ``TraceLog`` as `readEnvelope`, for the trace writer's
    /// thread.
    public static func traceEnvelopeLayout(_ envelope: UnsafeRawBufferPointer) -> TraceRecord.EnvelopeLayout {
        var layout = TraceRecord.EnvelopeLayout()
        guard let start = envelope.baseAddress else { return layout }
        var reader = ProtoReader(envelope)
        while let (field, value) = reader.next() {
            guard case .bytes(let bytes) = value, let address = bytes.baseAddress else { continue }
            let range = (address - start)..<(address - start + bytes.count)
            switch field {
            case 2: layout.eventID = range
            case 3: layout.key = range
            case 7: layout.type = range
            case 9: layout.correlationID = range
            case 10: layout.causationID = range
            default: continue
            }
        }
        return layout
    }
}
