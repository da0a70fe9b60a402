import FerryProtocol
import FerryRuntime
import Foundation
import Logging
import ZeroMQ

/// The I/O thread's side of a ``Connection``: the socket and everything only that thread touches.
final class Session {
    struct PendingRequest {
        let deadline: MonotonicInstant
        let reply: Connection.Reply
    }

    /// One `publish` call: its events' results fill in as confirms arrive.
    final class PublishCall {
        var results: [Result<PublishOutcome, FerryError>?]
        var remaining: Int
        let completion: Connection.PublishCompletion

        init(count: Int, completion: @escaping Connection.PublishCompletion) {
            results = Array(repeating: nil, count: count)
            remaining = count
            self.completion = completion
        }

        func complete(_ index: Int, _ result: Result<PublishOutcome, FerryError>) {
            guard results[index] == nil else { return }
            results[index] = result
            remaining -= 1
            if remaining == 0 { completion(results.map { $0! }) }
        }
    }

    struct QueuedEvent {
        let event: WireEvent
        let schedule: PublishSchedule?
        let call: PublishCall
        let index: Int
    }

    let configuration: ClientConfiguration
    let logger: Logger
    let context: Context
    let socket: Socket
    var nextRequestID: UInt64 = 0
    var nextSequence: UInt64 = 0
    var pendingRequests: [UInt64: PendingRequest] = [:]
    /// Subscriptions by a local id that outlives broker restarts, and the broker's ids for them.
    var subscriptions: [UInt32: Subscribe] = [:]
    var sinks: [UInt32: Connection.DeliverySink] = [:]
    var endHandlers: [UInt32: Connection.EndHandler] = [:]
    var nextLocalSubscription: UInt32 = 0
    var serverToLocal: [UInt32: UInt32] = [:]
    var localToServer: [UInt32: UInt32] = [:]
    var pendingSubscribes: [UInt64: UInt32] = [:]
    /// Subscribes whose caller stopped waiting (the request timed out): a `Subscribed` that still
    /// comes is undone at once, or its member would hold deliveries nobody takes.
    var abandonedSubscribes: Set<UInt64> = []
    /// The broker run this session talks to, and a counter of runs seen: delivery ids carry
    /// it in their top 16 bits so that a settle meant for an earlier run is never sent to a new one.
    var brokerID: String?
    var epoch: UInt64 = 0
    /// The Hello sent on resuming after a restart, until its answer: what the broker sends before
    /// it belongs to a session the resume's Goodbye ended (section 10.2), which must not be settled.
    var resumeHello: UInt64?
    /// When a Hello was last sent to greet the same broker run again (see ``sessionEnded()``).
    var lastGreeting = MonotonicInstant(nanoseconds: 0)
    var queuedEvents: [QueuedEvent] = []
    var queuedHead = 0
    /// Published, unconfirmed events by sequence; and the sequences of each Publish request.
    var unconfirmed: [UInt64: (call: PublishCall, index: Int, event: WireEvent, schedule: PublishSchedule?)] = [:]
    var publishRequests: [UInt64: (deadline: MonotonicInstant, sequences: [UInt64])] = [:]
    var acks: [UInt64] = []
    var nacks: [Nack] = []
    var heartbeatInterval = Nanoseconds.seconds(1)
    var peerTimeout = Nanoseconds.seconds(5)
    var maxBatch: Int
    /// The broker's limits on one encoded event and one frame (from `Welcome`).
    var maxEventBytes = ProtocolLimits().maxEventBytes
    /// Whether the broker keeps a schedule (`Welcome.max_schedule_delay_ms` > 0): one that does
    /// not (or predates scheduled events) would publish a scheduled event at once.
    var brokerSchedules = true
    /// A Welcome arrived (scheduled publishes wait for it: see ``brokerSchedules``), and when
    /// the session began waiting for one.
    var welcomeReceived = false
    let sessionStarted = MonotonicInstant.now()
    var maxFrameBytes = ProtocolLimits().maxFrameBytes
    var lastSent = MonotonicInstant(nanoseconds: 0)
    var lastReceived = MonotonicInstant(nanoseconds: 0)
    var brokerSilent = false
    /// A send found no room within the send timeout; cleared when the broker is heard from.
    var sendsStalled = false
    var lastTimers = MonotonicInstant(nanoseconds: 0)
    /// Why the session ended for good (see ``ClientConfiguration/autoResume``): every call fails with it.
    var endedWith: FerryError?
    /// Tells the connection that the session ended for good.
    let onEnded: @Sendable (FerryError) -> Void

    init(configuration: ClientConfiguration, logger: Logger, onEnded: @escaping @Sendable (FerryError) -> Void) throws(ZMQError) {
        self.configuration = configuration
        self.logger = logger
        self.onEnded = onEnded
        self.maxBatch = configuration.maxPublishBatch
        context = try Context()
        socket = try Socket(context: context, type: .dealer)
        try socket.setSendHighWaterMark(100_000)
        try socket.setReceiveHighWaterMark(100_000)
        // A send waits for room (back-pressure) but not forever: a DEALER whose handshake was
        // refused (a CURVE key the broker does not know, or CURVE against a plain ferryd) has no
        // connection left to queue on, and libzmq does not reconnect it.
        try socket.setSendTimeout(milliseconds: Int32(clamping: max(100, configuration.requestTimeout.milliseconds)))
        if let security = configuration.security {
            guard Context.hasCurve else {
                throw ZMQError(code: EPROTONOSUPPORT, operation: "CURVE: this libzmq was built without it (zmq_has(\"curve\") is false)")
            }
            // A ferryd that serves CURVE wants a routing id nobody can guess (protocol section
            // 13.3): the client's name for its logs, then 128 random bits.
            try socket.setRandomRoutingID(name: configuration.clientName)
            try socket.setCurveClient(
                serverKey: Z85.decodeKey(security.serverPublicKey) ?? [], publicKey: Z85.decodeKey(security.publicKey) ?? [],
                secretKey: Z85.decodeKey(security.secretKey) ?? [])
        }
        try socket.connect(configuration.endpoint)
        lastReceived = MonotonicInstant.now()
        var hello = Hello()
        hello.clientName = configuration.clientName
        send(
            .hello(hello), requestID: newRequestID(),
            reply: { [logger] result in
                if case .failure(let error) = result { logger.warning("hello failed", metadata: ["error": "\(error)"]) }
            })
    }

    var requestTimeout: Nanoseconds { Nanoseconds(configuration.requestTimeout) }

    func loop(commands: WakeupQueue<Connection.Command>) {
        var poller = Poller()
        let socketIndex = poller.addReadable(socket)
        let commandIndex = poller.addReadable(fileDescriptor: commands.fileDescriptor)
        var closing = false
        while !closing {
            do {
                try poller.poll(timeoutMilliseconds: 50)
            } catch {
                logger.error("poll failed", metadata: ["error": "\(error)"])
                break
            }
            if poller.isReadable(commandIndex) {
                for command in commands.drain() {
                    if case .close = command { closing = true } else { handle(command) }
                }
            }
            if poller.isReadable(socketIndex) { receiveAll() }
            sendPublishes()
            sendSettle()
            timers()
        }
        send(.goodbye(Goodbye()), requestID: 0, reply: nil)
        failEverything(FerryError(.closed, "the client was closed"))
    }

    func handle(_ command: Connection.Command) {
        if let endedWith {
            Self.refuse(command, endedWith)
            return
        }
        switch command {
        case .request(.unsubscribe(var unsubscribe), let reply):
            let local = unsubscribe.subscriptionID
            subscriptions.removeValue(forKey: local)
            endHandlers.removeValue(forKey: local)
            unsubscribe.subscriptionID = localToServer[local] ?? 0
            send(.unsubscribe(unsubscribe), requestID: newRequestID()) { result in
                reply(
                    result.map { reply in
                        guard case .unsubscribed(var unsubscribed) = reply else { return reply }
                        unsubscribed.subscriptionID = local
                        return .unsubscribed(unsubscribed)
                    })
            }
        case .request(let body, let reply):
            send(body, requestID: newRequestID(), reply: reply)
        case .subscribe(let subscribe, let sink, let onEnd, let reply):
            nextLocalSubscription += 1
            subscriptions[nextLocalSubscription] = subscribe
            sinks[nextLocalSubscription] = sink
            endHandlers[nextLocalSubscription] = onEnd
            let requestID = newRequestID()
            pendingSubscribes[requestID] = nextLocalSubscription
            send(.subscribe(subscribe), requestID: requestID, reply: reply)
        case .publish(let events, let completion):
            let call = PublishCall(count: events.count, completion: completion)
            if events.isEmpty { completion([]) }
            for (index, outgoing) in events.enumerated() {
                queuedEvents.append(QueuedEvent(event: outgoing.event, schedule: outgoing.schedule, call: call, index: index))
            }
        case .settle(let newAcks, let newNacks):
            acks.append(contentsOf: newAcks)
            nacks.append(contentsOf: newNacks)
        case .close:
            break
        }
    }

    func newRequestID() -> UInt64 {
        nextRequestID += 1
        return nextRequestID
    }

    func send(_ body: ClientMessage.OneOf_Command, requestID: UInt64, reply: Connection.Reply?) {
        var message = ClientMessage()
        message.requestID = requestID
        message.command = body
        if let reply { pendingRequests[requestID] = PendingRequest(deadline: MonotonicInstant.now() + requestTimeout, reply: reply) }
        do {
            // After one send found no room for the whole send timeout, the next ones do not wait
            // until the broker is heard from again: a refused handshake leaves nothing to wait for.
            guard try socket.send(WireFormat.signature, more: true, dontWait: sendsStalled) else {
                throw ZMQError(code: EAGAIN, operation: "zmq_send")
            }
            try socket.send(WireFormat.encode(message))
            lastSent = MonotonicInstant.now()
        } catch {
            if (error as? ZMQError)?.code == EAGAIN { sendsStalled = true }
            pendingRequests.removeValue(forKey: requestID)?.reply(.failure(FerryError(.transport, "\(error)")))
        }
    }

    func sendSettle() {
        guard !acks.isEmpty || !nacks.isEmpty else { return }
        // Settles for deliveries of an earlier broker run mean nothing to this one: drop them.
        let mask: UInt64 = (1 << 48) - 1
        var settle = Settle()
        settle.acks = acks.filter { $0 >> 48 == epoch }.map { $0 & mask }
        settle.nacks = nacks.filter { $0.deliveryID >> 48 == epoch }.map { nack in
            var nack = nack
            nack.deliveryID &= mask
            return nack
        }
        acks.removeAll(keepingCapacity: true)
        nacks.removeAll(keepingCapacity: true)
        if !settle.acks.isEmpty || !settle.nacks.isEmpty { send(.settle(settle), requestID: 0, reply: nil) }
    }

    func receiveAll() {
        while true {
            let frames: [Message]?
            do {
                frames = try socket.receiveMultipart(dontWait: true)
            } catch {
                logger.error("receive failed", metadata: ["error": "\(error)"])
                return
            }
            guard let frames else { return }
            lastReceived = MonotonicInstant.now()
            sendsStalled = false
            if brokerSilent {
                brokerSilent = false
                logger.info("broker is answering again")
            }
            guard frames.count == 2 else {
                logger.warning("dropping a message with \(frames.count) frames")
                continue
            }
            do {
                try frames[0].withUnsafeBytes { (signature) throws(ProtocolError) in try WireFormat.checkSignature(signature) }
                let message = try frames[1].withUnsafeBytes { (body) throws(ProtocolError) in
                    try WireFormat.decode(ServerMessage.self, from: body)
                }
                handle(message)
            } catch {
                logger.warning("dropping an unreadable message from the broker", metadata: ["error": "\(error)"])
            }
        }
    }

    func handle(_ message: ServerMessage) {
        // A session that ended for good takes nothing more from the broker.
        guard endedWith == nil else { return }
        switch message.reply {
        case .deliver(let deliver):
            handle(deliver)
        case .heartbeat(let heartbeat):
            if let known = brokerID, !heartbeat.brokerID.isEmpty, heartbeat.brokerID != known {
                resume(newBroker: heartbeat.brokerID)
            } else if heartbeat.noSession {
                sessionEnded()
            }
        case .publishResult(let result):
            completePublish(result, requestID: message.requestID)
        case .subscriptionEnded(let ended):
            subscriptionEnded(ended)
        case .welcome(let welcome):
            handle(welcome)
            handleReply(message)
        default:
            handleReply(message)
        }
    }

    /// Deliveries go to their subscriptions' sinks; any for a subscription this session no
    /// longer holds are handed back without spending an attempt.
    private func handle(_ deliver: Deliver) {
        // The broker gives these out again once it has read the Goodbye sent before the Hello.
        guard resumeHello == nil else { return }
        var bySubscription: [UInt32: [Delivery]] = [:]
        for var delivery in deliver.deliveries {
            delivery.deliveryID |= epoch << 48
            bySubscription[delivery.subscriptionID, default: []].append(delivery)
        }
        for (subscriptionID, deliveries) in bySubscription {
            if let local = serverToLocal[subscriptionID], let sink = sinks[local] {
                sink(deliveries)
            } else {
                nacks.append(contentsOf: deliveries.map { Self.release($0.deliveryID) })
            }
        }
    }

    /// Takes the broker's announced intervals and limits; a new broker id is a restart.
    private func handle(_ welcome: Welcome) {
        heartbeatInterval = .milliseconds(max(100, welcome.heartbeatIntervalMs))
        peerTimeout = .milliseconds(max(500, welcome.peerTimeoutMs))
        if welcome.maxBatch > 0 { maxBatch = min(maxBatch, Int(welcome.maxBatch)) }
        if welcome.maxEventBytes > 0 { maxEventBytes = Int(welcome.maxEventBytes) }
        if welcome.maxFrameBytes > 0 { maxFrameBytes = Int(clamping: welcome.maxFrameBytes) }
        brokerSchedules = welcome.maxScheduleDelayMs > 0
        welcomeReceived = true
        if let known = brokerID, !welcome.brokerID.isEmpty, welcome.brokerID != known {
            // A restart, as for a heartbeat: the Hello it answers may have been queued for an earlier run.
            resume(newBroker: welcome.brokerID)
        } else {
            brokerID = welcome.brokerID
        }
    }

    /// A reply to a request: matched to its caller by request id.
    private func handleReply(_ message: ServerMessage) {
        var message = message
        if message.requestID != 0 && message.requestID == resumeHello { resumeHello = nil }
        if case .subscribed(let late) = message.reply, abandonedSubscribes.remove(message.requestID) != nil {
            var unsubscribe = Unsubscribe()
            unsubscribe.subscriptionID = late.subscriptionID
            send(.unsubscribe(unsubscribe), requestID: newRequestID(), reply: nil)
            return
        }
        if case .subscribed(var subscribed) = message.reply, let local = pendingSubscribes.removeValue(forKey: message.requestID) {
            serverToLocal[subscribed.subscriptionID] = local
            localToServer[local] = subscribed.subscriptionID
            // An ephemeral group the broker named keeps that name when a resume subscribes again.
            if subscriptions[local]?.group.isEmpty == true { subscriptions[local]?.group = subscribed.group }
            subscribed.subscriptionID = local
            message.reply = .subscribed(subscribed)
        }
        if let publish = publishRequests.removeValue(forKey: message.requestID), case .error(let error) = message.reply {
            for sequence in publish.sequences { failSequence(sequence, FerryError(error)) }
            return
        }
        pendingSubscribes.removeValue(forKey: message.requestID)
        guard let pending = pendingRequests.removeValue(forKey: message.requestID) else {
            if case .error(let error) = message.reply, error.code == .unauthenticated {
                // The broker no longer knows this client's key (protocol section 13.6): nothing
                // will work on this connection again, and resuming would loop.
                end(FerryError(error))
                return
            }
            if case .error(let error) = message.reply {
                logger.warning("broker reported an error", metadata: ["code": "\(error.code.name)", "message": "\(error.message)"])
            }
            return
        }
        if case .error(let error) = message.reply {
            pending.reply(.failure(FerryError(error)))
        } else if let reply = message.reply {
            pending.reply(.success(reply))
        }
    }

    /// The broker ended a subscription (its grant was revoked): it is forgotten, so that no
    /// resume subscribes it again, and its owner hears why.
    private func subscriptionEnded(_ ended: SubscriptionEnded) {
        guard let local = serverToLocal.removeValue(forKey: ended.subscriptionID) else { return }
        localToServer.removeValue(forKey: local)
        let subscribe = subscriptions.removeValue(forKey: local)
        sinks.removeValue(forKey: local)
        let error = FerryError(.broker(ended.code), ended.message)
        logger.error(
            "the broker ended a subscription", metadata: ["group": "\(subscribe?.group ?? "")", "error": "\(error)"])
        endHandlers.removeValue(forKey: local)?(error)
    }

    static func release(_ deliveryID: UInt64) -> Nack {
        var nack = Nack()
        nack.deliveryID = deliveryID
        nack.release = true
        return nack
    }
}
