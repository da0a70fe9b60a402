import FerryProtocol
import FerryRuntime
import FerryStorage
import Logging
import Metrics

extension Broker {
    /// Sends what members have credit for: due retries first, then new events, batched per peer.
    func dispatch() {
        guard !isShuttingDown else { return }
        lastDispatch = now
        for group in groups.values where !group.members.isEmpty {
            dispatchRetries(of: group)
            for cursor in group.cursors.values { dispatchNew(of: group, from: cursor) }
        }
        flushDeliveries()
    }

    private func dispatchNew(of group: ConsumerGroup, from cursor: TopicCursor) {
        let first = log.bounds(topic: cursor.topic).lowerBound
        // Only what is as durable as the topic's policy promises is delivered.
        let end = log.durableEnd(topic: cursor.topic)
        if cursor.next < first { cursor.next = first }
        guard cursor.next < end else { return }
        let candidates = group.members(for: cursor.topic)
        while cursor.next < end {
            let credit = candidates.reduce(0) { $0 + max(0, $1.credit) }
            guard credit > 0 else { return }
            let events: [StoredEvent]
            do {
                events = try log.read(topic: cursor.topic, from: cursor.next, limit: min(credit, configuration.deliveryBatch))
            } catch {
                logger.error("reading from the log failed", metadata: ["topic": "\(cursor.topic)", "error": "\(error)"])
                return
            }
            guard !events.isEmpty else { return }
            if events[0].offset >= end {
                // Offsets skipped by recovery (corrupt records) leave a gap: step over it.
                cursor.next = end
                return
            }
            for event in events where event.offset < end {
                // A member without credit for this key holds the topic back: per-key order first.
                guard let member = group.pickMember(for: event.key, among: candidates) else { return }
                cursor.track(event.offset, attempt: 1)
                cursor.next = event.offset + 1
                deliver(
                    to: member, topic: cursor.topic, offset: event.offset, key: event.key, attempt: 1, body: event.body,
                    lastError: "", origin: .cursor, cursor: cursor)
            }
        }
    }

    func deliver(
        to member: Member, topic: String, offset: UInt64, key: String, attempt: UInt32, body: [UInt8], lastError: String,
        origin: RetryOrigin, cursor: TopicCursor?
    ) {
        let peer = member.peer
        peer.nextDeliveryID += 1
        let deliveryID = peer.nextDeliveryID
        peer.inFlight.set(
            deliveryID,
            InFlightDelivery(
                member: member, topic: topic, offset: offset, key: key, attempt: attempt, body: body,
                cursor: origin == .cursor ? cursor : nil,
                origin: origin, deadline: now + Nanoseconds.milliseconds(member.group.policy.ackTimeoutMilliseconds)))
        member.inFlight += 1
        if peer.pendingDeliveries.count == 0 { peersWithDeliveries.append(peer) }
        peer.pendingDeliveries.append(
            subscriptionID: member.subscriptionID, deliveryID: deliveryID, attempt: attempt, offset: offset, event: body,
            lastError: lastError)
        if peer.pendingDeliveries.count >= configuration.deliveryBatch { flushDeliveries(to: peer) }
        metrics.delivered.increment()
        member.group.counters.delivered += 1
        if let tracer, tracer.traces(topic: topic, offset: offset) {
            tracer.record(
                .delivered, timeMicros: wallNow, topic: traceNumber(ofTopic: topic, cursor: cursor), offset: offset,
                group: traceNumber(of: member.group), actor: traceNumber(of: member), attempt: attempt)
        }
    }

    private func flushDeliveries(to peer: Peer) {
        guard peer.pendingDeliveries.count > 0 else { return }
        send(peer.pendingDeliveries.finish(), to: peer)
    }

    private func flushDeliveries() {
        for peer in peersWithDeliveries { flushDeliveries(to: peer) }
        peersWithDeliveries.removeAll(keepingCapacity: true)
    }
}
