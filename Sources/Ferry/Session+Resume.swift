import FerryProtocol

extension Session {
    /// The broker restarted: greet it, subscribe again, and resend what it never confirmed
    /// (the same event ids, so nothing is stored twice within its dedup window).
    func resume(newBroker: String) {
        logger.warning(
            "ferryd restarted; resubscribing and resending unconfirmed events", metadata: ["endpoint": "\(configuration.endpoint)"])
        epoch = (epoch + 1) & 0xFFFF
        brokerID = newBroker
        acks.removeAll()
        nacks.removeAll()
        serverToLocal.removeAll()
        localToServer.removeAll()
        publishRequests.removeAll()
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
            QueuedEvent(event: $0.value.event, call: $0.value.call, index: $0.value.index)
        }
        unconfirmed.removeAll()
        queuedEvents = resend + queuedEvents[queuedHead...]
        queuedHead = 0
    }

}
