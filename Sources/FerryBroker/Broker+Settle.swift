import FerryProtocol
import FerryStorage

extension Broker {
    func handleSettle(_ settle: Settle, from peer: Peer) {
        self.settle(acks: settle.acks, from: peer)
        for nack in settle.nacks {
            guard let delivery = takeInFlight(nack.deliveryID, from: peer) else { continue }
            defer { settled(delivery.member) }
            metrics.nacked.increment()
            delivery.member.group.counters.nacked += 1
            if nack.release {
                schedule(
                    RetryEntry(
                        due: now, topic: delivery.topic, offset: delivery.offset, key: delivery.key, attempt: delivery.attempt,
                        body: delivery.retryBody, lastError: "", tracksCursor: delivery.tracksCursor), in: delivery.member.group)
                continue
            }
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
            metrics.acked.increment()
            let group = delivery.member.group
            group.counters.acked += 1
            if !delivery.tracksCursor { forgetUntrackedRetry(delivery, in: group) }
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

    /// A delivery failed: schedule its retry with backoff, or dead-letter it.
    func fail(_ delivery: InFlightDelivery, error: String, delayMilliseconds: Double?, poison: Bool) {
        let group = delivery.member.group
        if poison || delivery.attempt >= group.policy.maxAttempts {
            deadLetter(delivery, in: group, cause: poison ? .rejected : .maxAttempts, error: error)
            return
        }
        let delay = delayMilliseconds ?? group.policy.delayMilliseconds(afterAttempt: delivery.attempt, using: &random)
        schedule(
            RetryEntry(
                due: now + UInt64(delay * 1_000_000), topic: delivery.topic, offset: delivery.offset, key: delivery.key,
                attempt: delivery.attempt + 1, body: delivery.retryBody, lastError: error, tracksCursor: delivery.tracksCursor), in: group)
    }

    private func deadLetter(_ delivery: InFlightDelivery, in group: ConsumerGroup, cause: DeadLetterCause, error: String) {
        if group.ephemeral {
            // An ephemeral group has no dead-letter queue: the event is dropped for this group.
            if delivery.tracksCursor { group.cursors[delivery.topic]?.settle(delivery.offset) }
            metrics.ephemeralDropped.increment()
            group.counters.deadLettered += 1
            logger.warning(
                "event dropped by an ephemeral group",
                metadata: ["group": "\(group.name)", "topic": "\(delivery.topic)", "offset": "\(delivery.offset)", "error": "\(error)"])
            return
        }
        let record = DeadLetterRecord(
            id: 0, group: group.name, topic: delivery.topic, offset: delivery.offset, cause: cause, attempts: delivery.attempt,
            lastError: error, deadLetteredAtMicros: Clock.wallMicroseconds(), body: delivery.body)
        do {
            // A requeued delivery failing again: its retry row goes with the same step.
            try store.addDeadLetter(record, removingRetry: delivery.tracksCursor ? nil : Self.untrackedRetryID(of: delivery, in: group))
        } catch let storageError {
            // Keep the event rather than lose it: retry the dead-lettering later.
            logger.error("dead-lettering failed; will retry", metadata: ["group": "\(group.name)", "error": "\(storageError)"])
            schedule(
                RetryEntry(
                    due: now + 5_000_000_000, topic: delivery.topic, offset: delivery.offset, key: delivery.key,
                    attempt: delivery.attempt, body: delivery.retryBody, lastError: error, tracksCursor: delivery.tracksCursor), in: group)
            return
        }
        if delivery.tracksCursor {
            group.cursors[delivery.topic]?.settle(delivery.offset)
        } else {
            forgetUntrackedRetry(delivery, in: group)
        }
        metrics.deadLettered.increment()
        group.counters.deadLettered += 1
        logger.warning(
            "event dead-lettered",
            metadata: [
                "group": "\(group.name)", "topic": "\(delivery.topic)", "offset": "\(delivery.offset)",
                "attempts": "\(delivery.attempt)", "cause": "\(cause)", "error": "\(error)",
            ])
    }

    /// A delivery that its cursor does not track (a requeued dead letter) is saved only as its
    /// retry's row, kept while it is in flight (see `dispatchRetries`); it goes once the delivery
    /// is acked or dead-lettered again.
    private func forgetUntrackedRetry(_ delivery: InFlightDelivery, in group: ConsumerGroup) {
        guard !group.ephemeral else { return }
        pendingChanges.removeRetry(Self.untrackedRetryID(of: delivery, in: group))
    }

    private static func untrackedRetryID(of delivery: InFlightDelivery, in group: ConsumerGroup) -> RetryID {
        RetryID(group: group.name, topic: delivery.topic, offset: delivery.offset, tracksCursor: false)
    }
}
