import FerryProtocol
import FerryRuntime
import FerryStorage
import Logging
import Metrics

/// Retries: a failed delivery's schedule (backoff or the nack's delay), the redelivery of due
/// retries, and reading back the stored event a retry does not keep in memory.
extension Broker {
    /// A delivery failed: schedule its retry with backoff, or dead-letter it.
    func fail(_ delivery: InFlightDelivery, error: String, delayMilliseconds: Double?, poison: Bool) {
        let group = delivery.member.group
        if poison || delivery.attempt >= group.policy.maxAttempts {
            deadLetter(delivery, in: group, cause: poison ? .rejected : .maxAttempts, error: error)
            return
        }
        let delay = delayMilliseconds ?? group.policy.delayMilliseconds(afterAttempt: delivery.attempt, using: &random)
        tracer?.record(
            TraceRecord(
                kind: .retryScheduled, timeMicros: wallNow, topic: delivery.topic, offset: delivery.offset, group: group.name,
                attempt: delivery.attempt + 1, number: wallNow + Int64(delay * 1000)))
        schedule(
            RetryEntry(
                due: now + Nanoseconds.microseconds(UInt64(delay * 1000)), topic: delivery.topic, offset: delivery.offset,
                key: delivery.key,
                attempt: delivery.attempt + 1, body: delivery.retryBody, lastError: error, origin: delivery.origin), in: group)
    }

    /// How long a due retry waits when nobody consumes its topic or its event could not be read.
    static let retryRecheckDelay = Nanoseconds.seconds(1)

    /// Queues a redelivery and records it for the next save.
    func schedule(_ entry: RetryEntry, in group: ConsumerGroup) {
        group.retries.push(entry)
        if entry.origin == .cursor { group.cursors[entry.topic]?.track(entry.offset, attempt: entry.attempt) }
        if group.ephemeral { return }
        let delay = Int64((entry.due - now).wholeMicroseconds)
        pendingChanges.addRetry(
            RetryState(
                group: group.name, topic: entry.topic, offset: entry.offset, origin: entry.origin, attempt: entry.attempt,
                dueMicros: wallNow + delay, lastError: entry.lastError, key: entry.key,
                body: entry.origin == .cursor ? nil : entry.body))
    }

    func dispatchRetries(of group: ConsumerGroup) {
        var postponed: [RetryEntry] = []
        while let entry = group.retries.first, entry.due <= now {
            let candidates = group.members(for: entry.topic)
            if candidates.isEmpty {
                // Nobody consumes this topic any more: look again in a second.
                _ = group.retries.popFirst()
                postponed.append(
                    RetryEntry(
                        due: now + Self.retryRecheckDelay, topic: entry.topic, offset: entry.offset, key: entry.key, attempt: entry.attempt,
                        body: entry.body, lastError: entry.lastError, origin: entry.origin))
                continue
            }
            guard let member = group.pickMember(for: entry.key, among: candidates) else { break }
            _ = group.retries.popFirst()
            let id = RetryID(group: group.name, topic: entry.topic, offset: entry.offset, origin: entry.origin)
            let stored: [UInt8]?
            do {
                stored = try entry.body ?? storedBody(topic: entry.topic, offset: entry.offset)
            } catch {
                // An I/O error is no proof that the event is gone: try again in a second. Its
                // saved row stays as it was, so a restart meanwhile still finds the retry.
                logger.error(
                    "a retry's event could not be read; trying again",
                    metadata: ["group": "\(group.name)", "topic": "\(entry.topic)", "offset": "\(entry.offset)", "error": "\(error)"])
                postponed.append(
                    RetryEntry(
                        due: now + Self.retryRecheckDelay, topic: entry.topic, offset: entry.offset, key: entry.key, attempt: entry.attempt,
                        body: nil, lastError: entry.lastError, origin: entry.origin))
                continue
            }
            guard let body = stored else {
                logger.error(
                    "a retry's event is no longer stored; dropping it",
                    metadata: ["group": "\(group.name)", "topic": "\(entry.topic)", "offset": "\(entry.offset)"])
                if !group.ephemeral { pendingChanges.removeRetry(id) }
                if entry.origin == .cursor { group.cursors[entry.topic]?.settle(entry.offset) }
                continue
            }
            // Once delivered, a retry of the cursor's own is saved as one of the cursor's in-flight
            // offsets, so its row goes. A requeued dead letter keeps its row until the delivery is
            // settled: it is saved nowhere else.
            if !group.ephemeral && entry.origin == .cursor { pendingChanges.removeRetry(id) }
            deliver(
                to: member, topic: entry.topic, offset: entry.offset, key: entry.key, attempt: entry.attempt, body: body,
                lastError: entry.lastError, origin: entry.origin, cursor: group.cursors[entry.topic])
            metrics.redelivered.increment()
            group.counters.redelivered += 1
        }
        for entry in postponed { group.retries.push(entry) }
    }

    /// The stored envelope at `offset`, for a retry restored without its body: nil when the
    /// log no longer holds it (retention, or a corrupt record skipped); throws when it could not
    /// be read.
    func storedBody(topic: String, offset: UInt64) throws(StorageError) -> [UInt8]? {
        guard let event = try log.read(topic: topic, from: offset, limit: 1).first, event.offset == offset else { return nil }
        return event.body
    }
}
