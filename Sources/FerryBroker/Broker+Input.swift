import FerryProtocol
import FerryRuntime
import FerryStorage
import Logging

extension Broker {
    /// Handles one input at `time`: the broker's single entry point.
    ///
    /// Replies and deliveries accumulate until ``sendOutbox(_:)``; the store is written as the
    /// input requires; ``timeUntilWakeup`` says when a `.passEnded` is due if nothing arrives,
    /// and ``isFinished`` when a shutdown has run its course.
    public func handle(_ input: BrokerInput, at time: BrokerTime) {
        now = time.monotonic
        wallNow = time.wallMicroseconds
        switch input {
        case .message(let routingID, let frameCount, let signature, let body, let userID):
            receive(from: routingID, frameCount: frameCount, signature: signature, body: body, userID: userID)
        case .credentialsChanged(let credentials):
            reloadCredentials(credentials)
        case .eventsSynced:
            log.collectSyncs()
            releaseDurableConfirms()
        case .groupStateSynced:
            releaseDurableGroupReplies()
        case .peerUnreachable(let routingID):
            peerDisconnected(PeerID(bytes: routingID))
        case .shutdown:
            beginShutdown()
        case .traceAnswered:
            sendTraceAnswers()
        case .scheduleAnswered:
            takeScheduleAnswers()
        case .passEnded:
            endPass()
        }
    }

    /// Hands every frame produced so far to `send`, in order, and forgets them. A frame the
    /// socket cannot route is the caller's to report as `.peerUnreachable` afterwards.
    public func sendOutbox(_ send: (Outbound) -> Void) {
        swap(&outbox, &sending)
        for outbound in sending { send(outbound) }
        sending.removeAll(keepingCapacity: true)
    }

    /// How long the broker may wait for input before it needs a `.passEnded`: the next due
    /// retry, the next housekeeping or the end of the shutdown grace period.
    public var timeUntilWakeup: Duration {
        var wait = min(Self.idleWakeup, retryWakeup)
        if let deadline = shutdownDeadline { wait = min(wait, deadline - now) }
        return wait.duration
    }

    /// Longest sleep with nothing due: the stall detector counts on a pass at least this often.
    static let idleWakeup = Nanoseconds.milliseconds(100)

    /// The end of a pass: fsyncs, dispatch, timers and saves; during shutdown, whether it is over.
    private func endPass() {
        // The fsync of this pass's appends starts first, so that the disk works while the pass
        // dispatches (what it appended cannot be delivered before that fsync anyway).
        log.flush()
        dispatch()
        housekeep()
        endIteration()
        guard let deadline = shutdownDeadline, !isFinished else { return }
        let inFlight = inFlightCount
        if (inFlight == 0 && pendingConfirms.isEmpty && heldReplies.isEmpty && pendingCancels.isEmpty && pendingFires.isEmpty)
            || now >= deadline
        {
            persistGroupState()
            isFinished = true
            logger.info("broker stopped", metadata: ["unsettled": "\(inFlight)"])
        }
    }

    /// Work done once per loop iteration after dispatching: save group state. (The pass's fsyncs
    /// were asked for before dispatching: only publishes append to the log.)
    func endIteration() {
        // Group state is saved at most every few milliseconds: what changed in between (acks,
        // mostly) is redelivered after a crash, never lost.
        if now - lastStateSave >= .milliseconds(configuration.groupStateSaveIntervalMilliseconds) {
            lastStateSave = now
            persistGroupState()
        }
        // Held replies also time out, and a store that never lags releases them here.
        if !heldReplies.isEmpty { releaseDurableGroupReplies() }
        // What the pass did goes to the trace writer in one batch.
        tracer?.flush()
    }

    /// Stops taking publishes and subscriptions and stops delivering; in-flight deliveries may
    /// settle until the grace period ends.
    private func beginShutdown() {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        shutdownDeadline = now + Nanoseconds.milliseconds(configuration.shutdownGraceMilliseconds)
        logger.info("shutting down: no new publishes or deliveries", metadata: ["inFlight": "\(inFlightCount)"])
    }
}
