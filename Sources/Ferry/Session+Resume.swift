import FerryProtocol
import FerryRuntime
import Logging

extension Session {
    /// The broker restarted: greet it, subscribe again, and resend what it never confirmed
    /// (the same event ids, so nothing is stored twice within its dedup window).
    func resume(newBroker: String) {
        guard configuration.autoResume else {
            let previous = brokerID ?? ""
            brokerID = newBroker
            end(
                FerryError(
                    .brokerRestarted,
                    "ferryd at \(configuration.endpoint) restarted (broker id \(previous) -> \(newBroker)); this connection's subscriptions and delivery ids are void"
                ))
            return
        }
        logger.warning(
            "ferryd restarted; resubscribing and resending unconfirmed events", metadata: ["endpoint": "\(configuration.endpoint)"])
        brokerID = newBroker
        setUpSessionAgain()
    }

    /// The broker run we know says it holds no session for us (protocol section 10.4): it ended
    /// ours while this process was stalled past the peer timeout, and our subscriptions are gone.
    /// Notices that answer what we sent before our last Hello (the resume's own) are ignored.
    func sessionEnded() {
        guard brokerID != nil, resumeHello == nil else { return }
        if subscriptions.isEmpty {
            // Nothing to restore: greet again (once per heartbeat interval: notices answering
            // what was sent before the Hello may follow) so that the broker's heartbeats resume.
            let now = MonotonicInstant.now()
            guard now - lastGreeting >= heartbeatInterval else { return }
            lastGreeting = now
            var hello = Hello()
            hello.clientName = configuration.clientName
            send(.hello(hello), requestID: newRequestID(), reply: nil)
            return
        }
        guard configuration.autoResume else {
            end(
                FerryError(
                    .sessionEnded,
                    "ferryd at \(configuration.endpoint) ended this session (this process was silent past its peer timeout); its subscriptions and delivery ids are void"
                ))
            return
        }
        logger.warning(
            "ferryd ended this session (this process was silent past its peer timeout); resubscribing and resending unconfirmed events",
            metadata: ["endpoint": "\(configuration.endpoint)"])
        setUpSessionAgain()
    }

    /// Ends the session for good (``ClientConfiguration/autoResume`` is off): everything pending
    /// fails with `error`, and so does every later call; subscriptions are gone.
    func end(_ error: FerryError) {
        guard endedWith == nil else { return }
        logger.error("the session with ferryd ended", metadata: ["error": "\(error)"])
        endedWith = error
        // The reason first: whoever is told below may ask for it.
        onEnded(error)
        failEverything(error)
        publishRequests.removeAll()
        pendingSubscribes.removeAll()
        subscriptions.removeAll()
        sinks.removeAll()
        acks.removeAll()
        nacks.removeAll()
        for handler in endHandlers.values { handler(error) }
        endHandlers.removeAll()
    }

    /// Answers a command that arrived after the session ended for good (or that no session
    /// could take: see ``Connection/open(configuration:logger:)``).
    static func refuse(_ command: Connection.Command, _ error: FerryError) {
        switch command {
        case .request(_, let reply), .subscribe(_, _, _, let reply): reply(.failure(error))
        case .publish(let events, let completion): completion(events.map { _ in .failure(error) })
        case .settle, .close: break
        }
    }

    /// Voids the earlier session and sets up a new one on the broker run now answering.
    private func setUpSessionAgain() {
        epoch = (epoch + 1) & 0xFFFF
        acks.removeAll()
        nacks.removeAll()
        serverToLocal.removeAll()
        localToServer.removeAll()
        publishRequests.removeAll()
        // Subscriptions of the earlier run are gone with it.
        abandonedSubscribes.removeAll()
        // Replies to requests of the earlier run are void: a late Subscribed must not map a
        // subscription of a session the Goodbye below ends. A caller still waiting for its
        // subscription gets the answer to the Subscribe sent again.
        var waiting: [UInt32: Connection.Reply] = [:]
        for (requestID, local) in pendingSubscribes {
            if let pending = pendingRequests.removeValue(forKey: requestID) { waiting[local] = pending.reply }
        }
        pendingSubscribes.removeAll()
        // Goodbye first: if this broker run already holds subscriptions of ours (we may have
        // resubscribed to it once already), they end now and their deliveries go out again at
        // once, instead of waiting for an ack timeout with acks we will never send.
        send(.goodbye(Goodbye()), requestID: 0, reply: nil)
        var hello = Hello()
        hello.clientName = configuration.clientName
        let helloID = newRequestID()
        resumeHello = helloID
        send(
            .hello(hello), requestID: helloID,
            reply: { [logger] result in
                if case .failure(let error) = result {
                    logger.warning("hello after a broker restart failed", metadata: ["error": "\(error)"])
                }
            })
        for (local, subscribe) in subscriptions.sorted(by: { $0.key < $1.key }) {
            let requestID = newRequestID()
            pendingSubscribes[requestID] = local
            send(.subscribe(subscribe), requestID: requestID, reply: waiting.removeValue(forKey: local))
        }
        for reply in waiting.values { reply(.failure(FerryError(.closed, "the subscription was closed"))) }
        let resend = unconfirmed.sorted { $0.key < $1.key }.map {
            QueuedEvent(event: $0.value.event, schedule: $0.value.schedule, call: $0.value.call, index: $0.value.index)
        }
        unconfirmed.removeAll()
        queuedEvents = resend + queuedEvents[queuedHead...]
        queuedHead = 0
    }

}
