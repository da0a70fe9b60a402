import FerryProtocol
import FerryRuntime
import FerryStorage
import Foundation
public import Logging
import Metrics
import ZeroMQ

/// Runs a ``Broker`` on a dedicated thread that owns the ROUTER socket and loops over `zmq_poll`.
///
/// Other threads reach the loop only through its ``LoopThread``'s queue: ``shutdown()`` is the
/// one command they send. Inbound messages are drained in batches, and deliveries and replies
/// produced by a batch go out together.
public final class BrokerServer: Sendable {
    private enum Control: Sendable {
        case shutdown
        case credentials(Credentials)
    }

    public let configuration: BrokerConfiguration
    private let logger: Logger
    private let openStorage: @Sendable () throws -> BrokerStorage
    private let metricsText: (@Sendable () -> String)?
    private let thread = LoopThread<Control>(name: "ferryd-broker", stackSize: 8 << 20)
    /// The loop's health, for readiness probes.
    public let health = BrokerHealth()

    /// - Parameters:
    ///   - openStorage: opens the event log and group-state store, on the loop thread.
    ///   - metricsText: renders the metrics registry for Stats replies.
    public init(
        configuration: BrokerConfiguration, logger: Logger, openStorage: @escaping @Sendable () throws -> BrokerStorage,
        metricsText: (@Sendable () -> String)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.openStorage = openStorage
        self.metricsText = metricsText
    }

    /// Starts the loop thread, binds, and returns the bound endpoint (with the real port).
    @discardableResult
    public func start() throws -> String {
        try thread.start { [self] (ready: (String) -> Void) in
            do {
                try loop(ready: ready)
            } catch {
                logger.critical("broker loop failed", metadata: ["error": "\(error)"])
                throw error
            }
        }
    }

    /// Begins a graceful shutdown: no new work, in-flight deliveries get the grace period to settle.
    public func shutdown() { thread.requestStop(sending: .shutdown) }

    /// Puts `credentials` in force (a reload of the operator's file): see
    /// ``BrokerInput/credentialsChanged(_:)``.
    public func replaceCredentials(_ credentials: Credentials) { thread.commands.push(.credentials(credentials)) }

    /// Returns once the loop has ended.
    public func waitUntilStopped() async {
        await thread.waitUntilStopped()
    }

    /// Binds, opens the stores, tells ``start()`` the endpoint, then loops until the broker is
    /// finished.
    private func loop(ready: (String) -> Void) throws {
        let context = try Context()
        let router = try Socket(context: context, type: .router)
        try router.setRouterMandatory(true)
        try router.setSendHighWaterMark(100_000)
        try router.setReceiveHighWaterMark(100_000)
        try router.setMaxMessageSize(Int64(configuration.limits.maxFrameBytes))
        // With CURVE, the ZAP handler is bound and proven to see handshakes before any endpoint
        // is: no connection is ever accepted unchecked.
        let zap = try configuration.curveSecretKey.map { secretKey in try secure(router, secretKey: secretKey, in: context) }
        try router.bind(configuration.endpoint)
        let endpoint = try router.lastEndpoint
        let storage = try openStorage()
        defer {
            storage.close()
            if storage.groupState.closedWithUnsavedChanges {
                logger.error("group state could not be saved before exit; events acked since the last save will be delivered again")
            }
        }
        logRecovery(of: storage)
        let broker = Broker(configuration: configuration, storage: storage, logger: logger, at: .now())
        // Runs before the stores close (defers run last first): no search reads a closed trace.
        defer { broker.close() }
        broker.metricsText = metricsText
        broker.health = health
        health.update { $0.recovered = true }
        var poller = LoopPoller(
            router: router, control: thread.commands, storage: storage, zap: zap, traceAnswers: broker.traceAnswerDescriptor,
            scheduleAnswers: broker.scheduleAnswerDescriptor)
        ready(endpoint)
        logger.info("ferryd listening", metadata: ["endpoint": "\(endpoint)"])
        while !broker.isFinished { try pass(of: broker, polling: &poller, router: router) }
    }

    /// What the loop polls: the socket, the control queue and the stores' descriptors.
    private struct LoopPoller {
        var poller: Poller
        let router: Int
        let control: Int
        let synced: Int?
        let groupStateSynced: Int?
        let traceAnswers: Int?
        let scheduleAnswers: Int?
        let zap: (handler: ZAPHandler, index: Int)?
        /// The last pass stopped reading with messages left: the next poll does not wait.
        var backlog = false
        /// Routing ids the socket could not route to during the pass.
        var unreachable: [[UInt8]] = []

        init(
            router socket: Socket, control queue: WakeupQueue<Control>, storage: BrokerStorage, zap handler: ZAPHandler?,
            traceAnswers answers: Int32?, scheduleAnswers schedule: Int32?
        ) {
            var poller = Poller()
            router = poller.addReadable(socket)
            control = poller.addReadable(fileDescriptor: queue.fileDescriptor)
            synced = storage.log.syncNotificationDescriptor.map { poller.addReadable(fileDescriptor: $0) }
            groupStateSynced = storage.groupState.notificationDescriptor.map { poller.addReadable(fileDescriptor: $0) }
            traceAnswers = answers.map { poller.addReadable(fileDescriptor: $0) }
            scheduleAnswers = schedule.map { poller.addReadable(fileDescriptor: $0) }
            zap = handler.map { ($0, poller.addReadable($0.socket)) }
            self.poller = poller
        }
    }

    /// One turn of the loop: wait for input (at most until the broker's next wake-up), hand it
    /// over, send the replies, end the pass, send the deliveries.
    private func pass(of broker: Broker, polling loop: inout LoopPoller, router: Socket) throws {
        try loop.poller.poll(timeoutMilliseconds: loop.backlog ? 0 : Int(broker.timeUntilWakeup.wholeMilliseconds))
        var time = BrokerTime.now()
        if loop.poller.isReadable(loop.control) {
            for command in thread.commands.drain() {
                switch command {
                case .shutdown: broker.handle(.shutdown, at: time)
                case .credentials(let credentials): broker.handle(.credentialsChanged(credentials), at: time)
                }
            }
        }
        if let zap = loop.zap, loop.poller.isReadable(zap.index) {
            broker.now = time.monotonic
            try zap.handler.answerPending { broker.decideHandshake($0) }
        }
        if let synced = loop.synced, loop.poller.isReadable(synced) { broker.handle(.eventsSynced, at: time) }
        if let synced = loop.groupStateSynced, loop.poller.isReadable(synced) { broker.handle(.groupStateSynced, at: time) }
        if let answers = loop.traceAnswers, loop.poller.isReadable(answers) { broker.handle(.traceAnswered, at: time) }
        if let answers = loop.scheduleAnswers, loop.poller.isReadable(answers) { broker.handle(.scheduleAnswered, at: time) }
        loop.backlog = false
        if loop.poller.isReadable(loop.router) {
            var received = 0
            while let frames = try router.receiveMultipart(dontWait: true) {
                handle(frames, broker: broker, passStart: time)
                received += 1
                if received == 4096 {
                    loop.backlog = true
                    break
                }
            }
            time = time.at(.now())
        }
        // Replies (publish confirms above all) leave before this pass's deliveries are built,
        // so a publisher refills its window while the broker dispatches.
        flush(broker, through: router, unreachable: &loop.unreachable)
        broker.handle(.passEnded, at: time)
        flush(broker, through: router, unreachable: &loop.unreachable)
        // EHOSTUNREACH: the socket knows no connection by that routing id any more (its process
        // died, or it disconnected): its session ends now, not at the peer timeout, and its
        // deliveries go to other members. The broker's heartbeats reach every silent session
        // once per interval, so a dead one is found within it.
        for routingID in loop.unreachable { broker.handle(.peerUnreachable(routingID: routingID), at: time) }
        loop.unreachable.removeAll()
    }

    private func logRecovery(of storage: BrokerStorage) {
        let report = storage.log.recovery
        logger.info(
            "log recovered",
            metadata: [
                "topics": "\(report.topics)", "records": "\(report.records)", "seconds": "\(report.seconds)",
                "truncatedBytes": "\(report.truncatedBytes)", "corruptRecords": "\(report.corruptRecords)",
            ])
        for problem in report.problems { logger.warning("log repaired", metadata: ["problem": "\(problem)"]) }
        for problem in storage.groupState.recoveryProblems { logger.warning("group state repaired", metadata: ["problem": "\(problem)"]) }
    }

    /// Hands one message to the broker, at the monotonic time it was read (the wall clock is
    /// derived from the pass's start: one clock read per message, as before the wall clock was
    /// passed in).
    private func handle(_ frames: [Message], broker: Broker, passStart: BrokerTime) {
        let identity = frames[0].bytes
        let time = passStart.at(.now())
        let empty: [UInt8] = []
        empty.withUnsafeBytes { emptyBuffer in
            let signature = frames.count > 1 ? frames[1] : nil
            let body = frames.count > 2 ? frames[2] : nil
            if let signature, let body {
                signature.withUnsafeBytes { signatureBytes in
                    body.withUnsafeBytes { bodyBytes in
                        guard configuration.curveSecretKey != nil else {
                            broker.handle(
                                .message(routingID: identity, frameCount: frames.count - 1, signature: signatureBytes, body: bodyBytes),
                                at: time)
                            return
                        }
                        // The identity ZAP gave the connection rides on every message it sends.
                        body.withProperty("User-Id") { userID in
                            broker.handle(
                                .message(
                                    routingID: identity, frameCount: frames.count - 1, signature: signatureBytes, body: bodyBytes,
                                    userID: userID),
                                at: time)
                        }
                    }
                }
            } else {
                frames[frames.count - 1].withProperty("User-Id") { userID in
                    broker.handle(
                        .message(
                            routingID: identity, frameCount: frames.count - 1, signature: emptyBuffer, body: emptyBuffer,
                            userID: configuration.curveSecretKey == nil ? nil : userID),
                        at: time)
                }
            }
        }
    }

    private func flush(_ broker: Broker, through router: Socket, unreachable: inout [[UInt8]]) {
        broker.sendOutbox { outbound in
            do throws(ZMQError) {
                let sent = try router.send(outbound.peerRoutingID, more: true, dontWait: true)
                if sent {
                    try router.send(WireFormat.signature, more: true)
                    try router.send(outbound.frame)
                }
                if !sent { broker.metrics.sendDropped.increment() }
            } catch {
                broker.metrics.sendDropped.increment()
                if error.code == EHOSTUNREACH { unreachable.append(outbound.peerRoutingID) }
            }
        }
    }
}
