import FerryProtocol
import FerryRuntime
import FerryStorage
import Foundation
public import Logging
public import Metrics
import SwiftProtobuf

/// The broker's state machine: peers, consumer groups, deliveries, retries and dead letters.
///
/// `Broker` knows nothing of sockets or clocks: everything reaches it through
/// ``handle(_:at:)``, with the time it happened, and what it answers leaves through
/// ``sendOutbox(_:)``. ``BrokerServer`` drives it from the thread that owns the socket; an
/// embedded test broker drives it with a manual clock. Keeping all of it on one thread is what
/// lets the hot path run without locks.
public final class Broker {
    /// A frame to send: the peer and the encoded `ServerMessage`.
    public struct Outbound {
        let peer: PeerID
        public let frame: [UInt8]
        public var peerRoutingID: [UInt8] { peer.bytes }
    }

    let configuration: BrokerConfiguration
    let log: any EventLog
    let groupState: any GroupStateStore
    var logger: Logger
    var metrics: BrokerMetrics
    var peers: [PeerID: Peer] = [:]
    var groups: [String: ConsumerGroup] = [:]
    let dedup: DedupWindow
    /// The ids of the publish being handled, to confirm an id repeated within it once stored.
    let publishScratch: DedupTable
    var publishScratchKeys: [DedupKey] = []
    /// The delivery ids of the Settle being handled (read in place by ``SettleFrame``).
    var ackScratch: [UInt64] = []
    var random = SystemRandomNumberGenerator()
    /// Frames produced since the last ``sendOutbox(_:)``.
    var outbox: [Outbound] = []
    /// The frames being sent: swapped with ``outbox`` so that neither is reallocated per pass.
    var sending: [Outbound] = []
    /// Peers with deliveries batched during this dispatch pass (see ``Peer/pendingDeliveries``).
    var peersWithDeliveries: [Peer] = []
    /// The monotonic time of the input being handled (``BrokerTime/monotonic``).
    var now: MonotonicInstant
    /// Wall-clock microseconds of the input being handled, for stored timestamps.
    var wallNow: Int64
    /// Set once shutdown began: no new publishes, no new deliveries.
    public internal(set) var isShuttingDown = false
    /// When the shutdown grace period ends (monotonic nanoseconds).
    var shutdownDeadline: MonotonicInstant?
    /// Set once a shutdown ran its course: the driver stops feeding inputs.
    public internal(set) var isFinished = false
    var lastHousekeeping = MonotonicInstant(nanoseconds: 0)
    /// When ``dispatch()`` last ran: a retry due by then and still queued waits for credit.
    var lastDispatch = MonotonicInstant(nanoseconds: 0)
    /// When ``housekeep()`` last ran (every loop iteration), to notice the loop itself stalled.
    var lastLoopIteration: MonotonicInstant?
    var lastRetention = MonotonicInstant(nanoseconds: 0)
    var lastStateSave = MonotonicInstant(nanoseconds: 0)
    var lastGroupMetrics = MonotonicInstant(nanoseconds: 0)
    /// Unique per run; lets clients notice a restart.
    public let brokerID = UUID().uuidString
    /// Group state changed since the last save.
    var pendingChanges = GroupStateChanges()
    /// The group-state store's count of failed saves already added to the metric.
    var countedSaveFailures = 0
    /// Dead letters gathered since the last save, written just after the next one.
    var pendingDeadLetters: [PendingDeadLetter] = []
    /// Publish results waiting for their events to become durable, in arrival order.
    var pendingConfirms: [PendingConfirm] = []
    /// Replies waiting for group state to become durable, in arrival order.
    var heldReplies: [HeldReply] = []
    /// Keeps events published for later; nil refuses them.
    let scheduler: Scheduler?
    /// The next ticket for a request to the scheduler.
    var nextScheduleTicket: UInt64 = 1
    /// Cancellations waiting for the scheduler's answer, by ticket.
    var pendingCancels: [UInt64: (peer: PeerID, requestID: UInt64)] = [:]
    /// Due events appended and waiting for their fsync before the scheduler forgets them.
    var pendingFires: [PendingFire] = []
    /// Bytes of scheduled events handed to the scheduler and not yet answered, in all and per ticket.
    var scheduleBacklogBytes = 0
    var scheduleBacklogByTicket: [UInt64: Int] = [:]
    /// Renders the process's metrics for the Stats reply, when a metrics backend is set up.
    public var metricsText: (() -> String)?
    /// Topics the log holds, to notice the first event of a new one cheaply.
    var knownTopics: Set<String>
    /// Where the loop's health goes for probes, when something reads it.
    public var health: BrokerHealth?
    /// The last publish refused for the store: its code and message, and when.
    var lastStorageRefusal: (reason: String, at: MonotonicInstant)?
    /// The credentials in force, when connections are authenticated (CURVE).
    var security: BrokerSecurity?
    /// When a refused handshake was last logged: a flood of them is counted, not all logged.
    var lastHandshakeRefusalLog = MonotonicInstant(nanoseconds: 0)
    /// Where refused and administrative commands are written, with their principal.
    let auditLogger: Logger
    /// The trace log, when the storage has one.
    let traceLog: TraceLog?
    /// Records each event's life in the trace log; nil when nothing is traced.
    let tracer: EventTracer?
    /// Answers trace searches off the loop; nil without a trace log.
    let traceQueries: TraceQueries?
    /// The trace log's counts already added to the metrics.
    var countedTrace = TraceLogStatistics()

    /// A broker over `log` and `groupState`, restoring the groups saved there, as of `time`.
    /// Its metrics go to `metricsFactory`, or to the bootstrapped backend.
    public init(
        configuration: BrokerConfiguration, storage: BrokerStorage, logger: Logger, at time: BrokerTime,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.metrics = BrokerMetrics(factory: metricsFactory ?? MetricsSystem.factory)
        self.configuration = configuration
        self.log = storage.log
        self.groupState = storage.groupState
        self.logger = logger
        self.now = time.monotonic
        self.wallNow = time.wallMicroseconds
        self.knownTopics = Set(log.topics)
        self.dedup = DedupWindow(
            window: .milliseconds(configuration.dedupWindowMilliseconds),
            maxEntries: configuration.dedupMaxEntries)
        self.publishScratch = DedupTable(capacity: 2 * max(configuration.limits.maxBatch, 1))
        self.security = configuration.credentials.map(BrokerSecurity.init)
        var auditLogger = Logger(label: "ferry.audit")
        auditLogger.logLevel = logger.logLevel
        self.auditLogger = auditLogger
        self.traceLog = storage.trace
        self.tracer = storage.trace.flatMap { trace in configuration.traceSampling.map { EventTracer(log: trace, sampling: $0) } }
        self.scheduler = storage.scheduler
        self.traceQueries = storage.trace.map {
            TraceQueries(log: $0, sampling: configuration.traceSampling?.description ?? "off")
        }
        restoreGroupState()
        countStorageDamage()
        metrics.scheduledWaiting.record(storage.scheduler?.summary.events ?? 0)
    }

    /// Ends the thread that answers trace searches. Call it once the loop is done with the broker.
    public func close() {
        traceQueries?.close()
    }

    /// The descriptor that becomes readable when trace searches have answers: poll it, then
    /// hand over ``BrokerInput/traceAnswered``.
    public var traceAnswerDescriptor: Int32? { traceQueries?.answers.fileDescriptor }

    /// The descriptor that becomes readable when the scheduler has answers: poll it, then hand
    /// over ``BrokerInput/scheduleAnswered``.
    public var scheduleAnswerDescriptor: Int32? { scheduler?.answers.fileDescriptor }

    /// Unsettled deliveries across all peers.
    public var inFlightCount: Int { peers.values.reduce(0) { $0 + $1.inFlight.count } }

    /// Handles one inbound message: `signature` and `body` are frames 1 and 2 after the routing id,
    /// `frameCount` how many frames followed the routing id.
    func receive(
        from routingID: [UInt8], frameCount: Int, signature: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer,
        userID: UnsafeRawBufferPointer? = nil
    ) {
        let peer: Peer
        if security != nil {
            // Every message is checked: the identity is the connection's, never the client's word.
            guard let authenticated = authenticatedPeer(routingID: routingID, userID: userID, body: body) else { return }
            peer = authenticated
        } else {
            peer = touchPeer(PeerID(bytes: routingID))
        }
        guard frameCount == 2 else {
            reply(
                to: peer, requestID: 0,
                error: ProtocolError(.malformedFrame, "a message must have exactly 2 frames (signature, body); got \(frameCount)"))
            return
        }
        let message: ClientMessage
        do {
            try WireFormat.checkSignature(signature)
        } catch {
            reply(to: peer, requestID: 0, error: error)
            return
        }
        do {
            if let publish = PublishFrame.read(body, maxItems: configuration.limits.maxBatch) {
                // The hot path: events are checked and stored as they came, never decoded.
                if !peer.isSession { tellNoSession(peer, answeringHeartbeat: false) }
                do {
                    try handlePublish(publish, from: peer)
                } catch {
                    reply(to: peer, requestID: publish.requestID, error: error)
                }
                return
            }
            if SettleFrame.readAcks(body, into: &ackScratch) {
                // The other hot path: a consumer's acks, read in place.
                defer { ackScratch.removeAll(keepingCapacity: true) }
                if !peer.isSession { tellNoSession(peer, answeringHeartbeat: false) }
                settle(acks: ackScratch, from: peer)
                return
            }
            // Only a Publish may be large: anything else is read whole by SwiftProtobuf, so a
            // command padded with millions of patterns or ids is refused before it is decoded.
            if body.count > Self.maxCommandBytes && !Self.carriesPublish(body) {
                throw ProtocolError(
                    .batchTooLarge, "a command other than Publish of \(body.count) bytes; the limit is \(Self.maxCommandBytes)")
            }
            message = try WireFormat.decode(ClientMessage.self, from: body)
        } catch {
            // The request id when it can be read, so the client knows which request failed.
            reply(to: peer, requestID: Self.readableRequestID(body), error: error)
            return
        }
        handle(message, from: peer)
    }

    /// Largest command other than `Publish`: room for 256 patterns or 10 000 ids many times over.
    static let maxCommandBytes = 1 << 20

    /// Whether a `ClientMessage`'s command is a `Publish` (field 11), read without decoding it.
    static func carriesPublish(_ body: UnsafeRawBufferPointer) -> Bool {
        var reader = ProtoReader(body)
        while let (field, _) = reader.next() {
            if field == 11 { return true }
            if (10...99).contains(field) { return false }
        }
        return false
    }

    /// The `request_id` (field 1) of a message that did not decode as a whole, read up to the
    /// first malformed field: 0 when it was not there or the message was damaged before it.
    static func readableRequestID(_ body: UnsafeRawBufferPointer) -> UInt64 {
        var reader = ProtoReader(body)
        var requestID: UInt64 = 0
        while let (field, value) = reader.next() {
            if field == 1, case .varint(let id) = value { requestID = id }
        }
        return requestID
    }

    func handle(_ message: ClientMessage, from peer: Peer) {
        let requestID = message.requestID
        if !peer.isSession {
            switch message.command {
            case .hello, .subscribe, .goodbye, nil: break
            case .heartbeat: tellNoSession(peer, answeringHeartbeat: true)
            default: tellNoSession(peer, answeringHeartbeat: false)
            }
        }
        do {
            try authorize(message.command, from: peer)
            switch message.command {
            case .hello(let hello): handleHello(hello, from: peer, requestID: requestID)
            case .publish(let publish): try handlePublish(publish, from: peer, requestID: requestID)
            case .subscribe(let subscribe): try handleSubscribe(subscribe, from: peer, requestID: requestID)
            case .unsubscribe(let unsubscribe): try handleUnsubscribe(unsubscribe, from: peer, requestID: requestID)
            case .settle(let settle): handleSettle(settle, from: peer)
            case .heartbeat: break
            case .replay(let replay): try handleReplay(replay, from: peer, requestID: requestID)
            case .history(let history): try handleHistory(history, from: peer, requestID: requestID)
            case .trace(let trace): try handleTrace(trace, from: peer, requestID: requestID)
            case .deadLetterList(let list): try handleDeadLetterList(list, from: peer, requestID: requestID)
            case .deadLetterRequeue(let requeue): try handleDeadLetterRequeue(requeue, from: peer, requestID: requestID)
            case .deadLetterPurge(let purge): try handleDeadLetterPurge(purge, from: peer, requestID: requestID)
            case .stats: handleStats(from: peer, requestID: requestID)
            case .cancelScheduled(let cancel): try handleCancelScheduled(cancel, from: peer, requestID: requestID)
            case .goodbye: removePeer(peer, reason: "said goodbye")
            case nil:
                throw ProtocolError(
                    .unknownCommand, "the message carries no command this broker knows (protocol version \(WireFormat.version))")
            }
        } catch {
            reply(to: peer, requestID: requestID, error: error)
        }
    }

    func touchPeer(_ id: PeerID) -> Peer {
        if let peer = peers[id] {
            peer.lastSeen = now
            return peer
        }
        let peer = Peer(id: id, now: now)
        peers[id] = peer
        metrics.peers.record(peers.count)
        return peer
    }

    /// Tells a connection that sent a command other than Hello, Subscribe or Goodbye that it has
    /// no session here (protocol section 10.4): a `Heartbeat` with this run's `broker_id` and
    /// `no_session`. A client of an earlier run learns of the restart from the id; one whose session
    /// ended while it was stalled (silent past the peer timeout) learns that its subscriptions are
    /// gone. Every heartbeat is answered; other commands at most once per heartbeat interval.
    func tellNoSession(_ peer: Peer, answeringHeartbeat: Bool) {
        let interval = Nanoseconds.milliseconds(configuration.heartbeatIntervalMilliseconds)
        if !answeringHeartbeat, let last = peer.lastNoSessionNotice, now - last < interval { return }
        peer.lastNoSessionNotice = now
        metrics.noSessionNotices.increment()
        var heartbeat = Heartbeat()
        heartbeat.brokerID = brokerID
        heartbeat.noSession = true
        reply(to: peer, requestID: 0, .heartbeat(heartbeat))
    }

    func handleHello(_ hello: Hello, from peer: Peer, requestID: UInt64) {
        peer.name = String(decoding: hello.clientName.utf8.prefix(Self.maxNameBytes), as: UTF8.self)
        peer.isSession = true
        var welcome = Welcome()
        welcome.protocolVersion = UInt32(WireFormat.version)
        welcome.serverVersion = configuration.serverVersion
        welcome.heartbeatIntervalMs = configuration.heartbeatIntervalMilliseconds
        welcome.peerTimeoutMs = configuration.peerTimeoutMilliseconds
        welcome.maxPayloadBytes = UInt32(configuration.limits.maxPayloadBytes)
        welcome.maxBatch = UInt32(configuration.limits.maxBatch)
        welcome.brokerID = brokerID
        welcome.maxEventBytes = UInt32(configuration.limits.maxEventBytes)
        welcome.maxFrameBytes = UInt64(configuration.limits.maxFrameBytes)
        welcome.maxPatterns = UInt32(configuration.limits.maxPatternsPerSubscribe)
        welcome.maxIds = UInt32(configuration.limits.maxIDsPerCommand)
        welcome.principal = peer.principal?.name ?? ""
        welcome.maxScheduleDelayMs = scheduler == nil ? 0 : configuration.limits.maxScheduleDelayMilliseconds
        reply(to: peer, requestID: requestID, .welcome(welcome))
        logger.debug("peer said hello", metadata: ["peer": "\(peer.id)", "client": "\(hello.clientName)"])
    }

    // MARK: - Replies

    func reply(to peer: Peer, requestID: UInt64, _ body: ServerMessage.OneOf_Reply) {
        if case .publishResult(let result) = body, result.rejected.isEmpty, result.scheduled.isEmpty, result.unknownFields.data.isEmpty {
            // The reply to nearly every Publish, written without SwiftProtobuf's visitor.
            send(PublishResultEncoder.encode(requestID: requestID, confirmed: result.confirmed, offsets: result.offsets), to: peer)
            return
        }
        var message = ServerMessage()
        message.requestID = requestID
        message.reply = body
        send(WireFormat.encode(message), to: peer)
    }

    func reply(to peer: Peer, requestID: UInt64, error: any Error) {
        let protocolError = error as? ProtocolError ?? ProtocolError(.storageFailure, "\(error)")
        metrics.countError(protocolError.code)
        logger.debug("command failed", metadata: ["peer": "\(peer.id)", "error": "\(protocolError)"])
        reply(to: peer, requestID: requestID, .error(protocolError.wire))
    }

    func send(_ frame: [UInt8], to peer: Peer) {
        peer.lastSent = now
        outbox.append(Outbound(peer: peer.id, frame: frame))
    }
}
