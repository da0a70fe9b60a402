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
        // Written with the others of this save interval (``writeDeadLetters()``): meanwhile its
        // cursor still holds the offset, so a crash redelivers it.
        pendingDeadLetters.append(
            PendingDeadLetter(
                delivery: delivery, group: group,
                record: DeadLetterRecord(
                    id: 0, group: group.name, topic: delivery.topic, offset: delivery.offset, cause: cause, attempts: delivery.attempt,
                    lastError: error, deadLetteredAtMicros: wallNow, body: delivery.body)))
    }

    /// Writes the dead letters gathered since the last save in one synced step, then settles
    /// their offsets. If the store refuses, each is tried again in 5 s rather than lost.
    /// Returns whether there were any (group state then changed again).
    func writeDeadLetters() -> Bool {
        guard !pendingDeadLetters.isEmpty else { return false }
        let batch = pendingDeadLetters
        pendingDeadLetters.removeAll()
        do {
            // A requeued delivery failing again: its retry row goes in the same step.
            try store.addDeadLetters(
                batch.map { ($0.record, $0.delivery.tracksCursor ? nil : Self.untrackedRetryID(of: $0.delivery, in: $0.group)) })
        } catch let storageError {
            logger.error("dead-lettering failed; will retry", metadata: ["events": "\(batch.count)", "error": "\(storageError)"])
            for entry in batch {
                let delivery = entry.delivery
                schedule(
                    RetryEntry(
                        due: now + 5_000_000_000, topic: delivery.topic, offset: delivery.offset, key: delivery.key,
                        attempt: delivery.attempt, body: delivery.retryBody, lastError: entry.record.lastError,
                        tracksCursor: delivery.tracksCursor), in: entry.group)
            }
            return true
        }
        for entry in batch {
            let delivery = entry.delivery
            let group = entry.group
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
                    "attempts": "\(delivery.attempt)", "cause": "\(entry.record.cause)", "error": "\(entry.record.lastError)",
                ])
        }
        return true
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

/// A dead letter waiting for ``Broker/writeDeadLetters()``.
struct PendingDeadLetter {
    let delivery: InFlightDelivery
    let group: ConsumerGroup
    let record: DeadLetterRecord
}
