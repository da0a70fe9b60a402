import FerryProtocol
import FerryRuntime
import Logging

/// Timers of the I/O thread (request deadlines, heartbeats, the broker's silence, a Welcome that
/// never came) and failing what waits when the session ends.
extension Session {
    /// How often request deadlines, heartbeats and the broker's silence are checked.
    static let timerInterval = Nanoseconds.milliseconds(50)

    func timers() {
        let now = MonotonicInstant.now()
        guard now - lastTimers >= Self.timerInterval else { return }
        lastTimers = now
        for (requestID, pending) in pendingRequests where pending.deadline <= now {
            pendingRequests.removeValue(forKey: requestID)
            if pendingSubscribes.removeValue(forKey: requestID) != nil { abandonedSubscribes.insert(requestID) }
            if requestID == resumeHello { resumeHello = nil }
            pending.reply(
                .failure(FerryError(.timeout, "ferryd at \(configuration.endpoint) did not answer within \(configuration.requestTimeout)")))
        }
        for (requestID, publish) in publishRequests where publish.deadline <= now {
            publishRequests.removeValue(forKey: requestID)
            let error = FerryError(.timeout, "ferryd at \(configuration.endpoint) did not confirm within \(configuration.requestTimeout)")
            for sequence in publish.sequences { failSequence(sequence, error) }
        }
        if !welcomeReceived && now - sessionStarted >= requestTimeout { failScheduledWaitingForWelcome() }
        if now - lastSent >= heartbeatInterval { send(.heartbeat(Heartbeat()), requestID: 0, reply: nil) }
        if !brokerSilent && now - lastReceived > peerTimeout {
            brokerSilent = true
            logger.warning("ferryd is silent", metadata: ["endpoint": "\(configuration.endpoint)"])
        }
    }

    /// Scheduled publishes queued while no Welcome came (the broker is down or silent) fail as
    /// an unanswered publish would; the others stay queued.
    private func failScheduledWaitingForWelcome() {
        guard queuedEvents[queuedHead...].contains(where: { $0.schedule != nil }) else { return }
        let error = FerryError(
            .timeout, "ferryd at \(configuration.endpoint) did not answer Hello within \(configuration.requestTimeout): nothing was scheduled")
        var kept: [QueuedEvent] = []
        for queued in queuedEvents[queuedHead...] {
            if queued.schedule != nil { queued.call.complete(queued.index, .failure(error)) } else { kept.append(queued) }
        }
        queuedEvents = kept
        queuedHead = 0
    }

    func failEverything(_ error: FerryError) {
        for pending in pendingRequests.values { pending.reply(.failure(error)) }
        pendingRequests.removeAll()
        for sequence in Array(unconfirmed.keys) { failSequence(sequence, error) }
        for queued in queuedEvents[queuedHead...] { queued.call.complete(queued.index, .failure(error)) }
        queuedEvents.removeAll()
        queuedHead = 0
    }
}
