import FerryProtocol
import FerryStorage
import Metrics

extension Broker {
    func handleSettle(_ settle: Settle, from peer: Peer) {
        self.settle(acks: settle.acks, from: peer)
        for nack in settle.nacks {
            guard let delivery = takeInFlight(nack.deliveryID, from: peer) else { continue }
            defer { settled(delivery.member) }
            metrics.nacked.increment()
            delivery.member.group.counters.nacked += 1
            if nack.release {
                traceOutcome(.released, of: delivery)
                schedule(
                    RetryEntry(
                        due: now, topic: delivery.topic, offset: delivery.offset, key: delivery.key, attempt: delivery.attempt,
                        body: delivery.retryBody, lastError: "", origin: delivery.origin), in: delivery.member.group)
                continue
            }
            traceOutcome(.nacked, of: delivery, detail: nack.error.isEmpty ? "nacked" : nack.error)
            fail(
                delivery, error: nack.error.isEmpty ? "nacked" : nack.error,
                delayMilliseconds: nack.hasDelayMs ? Double(nack.delayMs) : nil, poison: nack.deadLetter)
        }
    }

    /// Acks: each delivery is done, and its offset settles its cursor.
    func settle(acks: [UInt64], from peer: Peer) {
        for deliveryID in acks {
            guard let delivery = takeInFlight(deliveryID, from: peer) else { continue }
            delivery.cursor?.settle(delivery.offset)
            if tracer != nil { traceOutcome(.acked, of: delivery) }
            metrics.acked.increment()
            let group = delivery.member.group
            group.counters.acked += 1
            if delivery.origin == .requeuedDeadLetter { forgetRequeuedRetry(delivery, in: group) }
            settled(delivery.member)
        }
    }

    /// Takes a delivery out of flight. The caller calls ``settled(_:)`` once it is done with the
    /// delivery's group: that may remove a draining member, and with its last member an
    /// ephemeral group, which nothing else keeps alive (`Member.group` is unowned).
    private func takeInFlight(_ deliveryID: UInt64, from peer: Peer) -> InFlightDelivery? {
        guard let delivery = peer.inFlight.removeValue(forKey: deliveryID) else {
            // Normal after an ack timeout or a member's removal; counted, not an error.
            metrics.unknownSettles.increment()
            return nil
        }
        return delivery
    }

    /// One delivery of `member` left flight; a draining member leaves once it holds none.
    func settled(_ member: Member) {
        member.inFlight -= 1
        if member.draining && member.inFlight == 0 { remove(member, reason: "drained") }
    }

}
